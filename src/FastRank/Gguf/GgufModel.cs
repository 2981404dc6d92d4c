using System.Collections.ObjectModel;

namespace FastRank.Gguf;

/// <summary>A GGUF array value: its element type and the elements (a typed .NET array, or <see cref="GgufArray"/>[] when nested).</summary>
public sealed record GgufArray(GgufValueType ElementType, Array Values)
{
    /// <summary>Number of elements.</summary>
    public int Count => Values.Length;
}

/// <summary>One metadata entry. <see cref="Value"/> is the natural .NET type (byte, sbyte, ushort, short, uint, int, float, bool, string, ulong, long, double) or a <see cref="GgufArray"/>.</summary>
public sealed record GgufMetadataEntry(string Key, GgufValueType Type, object Value);

/// <summary>A tensor's description in the header. <see cref="Offset"/> is relative to the data section.</summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Dimensions, long Offset)
{
    /// <summary>Bytes of tensor data.</summary>
    public long ByteSize => GgmlTypeInfo.TensorBytes(Type, Dimensions);

    /// <summary>Number of elements.</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Dimensions) n *= d;
            return n;
        }
    }
}

/// <summary>A validated GGUF header: metadata and tensor directory. Tensor data stays in the file.</summary>
public sealed class GgufFile
{
    internal GgufFile(uint version, IReadOnlyList<GgufMetadataEntry> metadata, IReadOnlyList<GgufTensorInfo> tensors,
        long alignment, long dataOffset, long fileSize, string? path)
    {
        Version = version;
        MetadataList = metadata;
        var dict = new Dictionary<string, GgufMetadataEntry>(metadata.Count, StringComparer.Ordinal);
        foreach (var e in metadata) dict[e.Key] = e;
        Metadata = new ReadOnlyDictionary<string, GgufMetadataEntry>(dict);
        Tensors = tensors;
        Alignment = alignment;
        DataOffset = dataOffset;
        FileSize = fileSize;
        FilePath = path;
    }

    /// <summary>Byte offset of each metadata entry (its key's length field), for error messages.</summary>
    internal IReadOnlyDictionary<string, long> KeyOffsets { get; init; } = new Dictionary<string, long>();

    /// <summary>Byte offset of each tensor's entry in the tensor directory, for error messages.</summary>
    internal IReadOnlyDictionary<string, long> TensorInfoOffsets { get; init; } = new Dictionary<string, long>();

    /// <summary>GGUF version (2 or 3).</summary>
    public uint Version { get; }

    /// <summary>Metadata in file order.</summary>
    public IReadOnlyList<GgufMetadataEntry> MetadataList { get; }

    /// <summary>Metadata by key.</summary>
    public IReadOnlyDictionary<string, GgufMetadataEntry> Metadata { get; }

    /// <summary>Tensors in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Data alignment (general.alignment, default 32).</summary>
    public long Alignment { get; }

    /// <summary>Absolute byte offset of the tensor data section.</summary>
    public long DataOffset { get; }

    /// <summary>Size of the file in bytes.</summary>
    public long FileSize { get; }

    /// <summary>The file path, when read from a file.</summary>
    public string? FilePath { get; }

    /// <summary>general.architecture, or null.</summary>
    public string? Architecture => GetString("general.architecture");

    /// <summary>Reads a string value, or null when absent or not a string.</summary>
    public string? GetString(string key) => Metadata.TryGetValue(key, out var e) ? e.Value as string : null;

    /// <summary>Reads an integer value of any integer type, or null.</summary>
    public long? GetInteger(string key)
    {
        if (!Metadata.TryGetValue(key, out var e)) return null;
        return e.Value switch
        {
            byte v => v,
            sbyte v => v,
            ushort v => v,
            short v => v,
            uint v => v,
            int v => v,
            ulong v => v <= long.MaxValue ? (long)v : null,
            long v => v,
            _ => null,
        };
    }

    /// <summary>Reads a floating-point value (f32 or f64), or null.</summary>
    public double? GetFloat(string key) => Metadata.TryGetValue(key, out var e)
        ? e.Value switch { float f => f, double d => d, _ => null }
        : null;

    /// <summary>Reads an array value, or null.</summary>
    public GgufArray? GetArray(string key) => Metadata.TryGetValue(key, out var e) ? e.Value as GgufArray : null;

    /// <summary>Reads an architecture-scoped integer such as <c>{arch}.block_count</c>.</summary>
    public long? GetArchInteger(string suffix) => Architecture is { } a ? GetInteger($"{a}.{suffix}") : null;
}
