using System.Text;

namespace FastRank.Gguf;

/// <summary>
/// Writes GGUF v3 files: metadata, a tensor directory, and tensor data streamed from callbacks so a
/// multi-gigabyte model never has to sit in memory. Tensors are laid out in the order added, each
/// padded to the alignment, as llama.cpp requires.
/// </summary>
internal sealed class GgufWriter
{
    private readonly List<(string Key, GgufValueType Type, object Value)> _metadata = [];
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);

    private sealed record PendingTensor(string Name, GgmlType Type, long[] Dims, long ByteSize, Action<Stream> Write);

    /// <summary>Data alignment written to general.alignment when it differs from the default.</summary>
    public int Alignment { get; init; } = GgufReader.DefaultAlignment;

    /// <summary>Adds a metadata entry; <paramref name="value"/> must match <paramref name="type"/> (arrays as <see cref="GgufArray"/>).</summary>
    public GgufWriter Add(string key, GgufValueType type, object value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!_keys.Add(key)) throw new ArgumentException($"metadata key '{key}' was already added", nameof(key));
        _metadata.Add((key, type, value));
        return this;
    }

    /// <summary>Adds a string entry.</summary>
    public GgufWriter Add(string key, string value) => Add(key, GgufValueType.String, value);
    /// <summary>Adds a uint32 entry.</summary>
    public GgufWriter Add(string key, uint value) => Add(key, GgufValueType.UInt32, value);
    /// <summary>Adds an int32 entry.</summary>
    public GgufWriter Add(string key, int value) => Add(key, GgufValueType.Int32, value);
    /// <summary>Adds a float32 entry.</summary>
    public GgufWriter Add(string key, float value) => Add(key, GgufValueType.Float32, value);
    /// <summary>Adds a bool entry.</summary>
    public GgufWriter Add(string key, bool value) => Add(key, GgufValueType.Bool, value);
    /// <summary>Adds a string array.</summary>
    public GgufWriter Add(string key, string[] values) => Add(key, GgufValueType.Array, new GgufArray(GgufValueType.String, values));
    /// <summary>Adds a float32 array.</summary>
    public GgufWriter Add(string key, float[] values) => Add(key, GgufValueType.Array, new GgufArray(GgufValueType.Float32, values));
    /// <summary>Adds an int32 array.</summary>
    public GgufWriter Add(string key, int[] values) => Add(key, GgufValueType.Array, new GgufArray(GgufValueType.Int32, values));

    /// <summary>
    /// Adds a tensor whose data <paramref name="write"/> streams when the file is written; it must write
    /// exactly the tensor's byte size. Dimensions are in ggml order (ne[0] is the contiguous one).
    /// </summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] dims, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(dims);
        ArgumentNullException.ThrowIfNull(write);
        if (Encoding.UTF8.GetByteCount(name) > GgufReader.MaxTensorNameLength)
            throw new ArgumentException($"tensor name '{name}' is too long", nameof(name));
        if (dims.Length is 0 or > GgufReader.MaxDimensions || dims.Any(d => d <= 0))
            throw new ArgumentException($"tensor '{name}' has invalid dimensions", nameof(dims));
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        _tensors.Add(new PendingTensor(name, type, (long[])dims.Clone(), GgmlTypeInfo.TensorBytes(type, dims), write));
        return this;
    }

    /// <summary>Adds an f32 tensor from memory.</summary>
    public GgufWriter AddTensor(string name, long[] dims, float[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        long n = dims.Aggregate(1L, (a, b) => a * b);
        if (n != data.Length) throw new ArgumentException($"tensor '{name}' has {n} elements but {data.Length} values were given", nameof(data));
        return AddTensor(name, GgmlType.F32, dims, s => s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan())));
    }

    /// <summary>Writes the file to <paramref name="path"/> (through a temporary file, moved into place when complete).</summary>
    public void Write(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string tmp = path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                Write(fs);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes the file to a stream.</summary>
    public void Write(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var meta = new List<(string Key, GgufValueType Type, object Value)>(_metadata);
        if (Alignment != GgufReader.DefaultAlignment && !_keys.Contains("general.alignment"))
            meta.Add(("general.alignment", GgufValueType.UInt32, (uint)Alignment));

        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufReader.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)meta.Count);
        foreach (var (key, type, value) in meta)
        {
            WriteString(w, key);
            w.Write((uint)type);
            WriteValue(w, type, value, key);
        }

        long offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (long d in t.Dims) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset += Pad(t.ByteSize);
        }
        w.Flush();

        WritePadding(stream, stream.Position);
        foreach (var t in _tensors)
        {
            long start = stream.Position;
            t.Write(stream);
            long written = stream.Position - start;
            if (written != t.ByteSize)
                throw new InvalidOperationException($"tensor '{t.Name}' wrote {written} bytes, expected {t.ByteSize}");
            WritePadding(stream, written);
        }
        stream.Flush();
    }

    private long Pad(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private void WritePadding(Stream s, long length)
    {
        long pad = Pad(length) - length;
        if (pad > 0) s.Write(new byte[pad]);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value, string key)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write(System.Convert.ToByte(value, null)); break;
            case GgufValueType.Int8: w.Write(System.Convert.ToSByte(value, null)); break;
            case GgufValueType.UInt16: w.Write(System.Convert.ToUInt16(value, null)); break;
            case GgufValueType.Int16: w.Write(System.Convert.ToInt16(value, null)); break;
            case GgufValueType.UInt32: w.Write(System.Convert.ToUInt32(value, null)); break;
            case GgufValueType.Int32: w.Write(System.Convert.ToInt32(value, null)); break;
            case GgufValueType.Float32: w.Write(System.Convert.ToSingle(value, null)); break;
            case GgufValueType.Bool: w.Write((bool)value ? (byte)1 : (byte)0); break;
            case GgufValueType.UInt64: w.Write(System.Convert.ToUInt64(value, null)); break;
            case GgufValueType.Int64: w.Write(System.Convert.ToInt64(value, null)); break;
            case GgufValueType.Float64: w.Write(System.Convert.ToDouble(value, null)); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.Array:
            {
                var arr = value as GgufArray ?? throw new ArgumentException($"'{key}' is an array entry but its value is not a GgufArray");
                if (arr.ElementType == GgufValueType.Array) throw new ArgumentException($"'{key}': nested arrays are not supported");
                w.Write((uint)arr.ElementType);
                w.Write((ulong)arr.Count);
                foreach (object? e in arr.Values) WriteValue(w, arr.ElementType, e!, key);
                break;
            }
            default: throw new ArgumentException($"'{key}' has invalid type {type}");
        }
    }
}
