using System.Buffers.Binary;
using System.Text;

namespace FastRank.Gguf;

/// <summary>
/// Reads and validates a whole GGUF header (metadata and tensor directory) before anything else sees
/// the file. Every length, count and offset is bounded by the file size before it is used, so a
/// corrupt or hostile file produces a <see cref="GgufFormatException"/> naming the problem and the
/// byte offset, never an out-of-memory, an overflow or a crash. The rules match what llama.cpp's own
/// loader requires, so a file that passes here is not refused there for its layout.
/// </summary>
public static class GgufReader
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>Alignment used when general.alignment is absent.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>Longest tensor name llama.cpp accepts (GGML_MAX_NAME - 1).</summary>
    public const int MaxTensorNameLength = 63;

    /// <summary>Most dimensions a tensor may have (GGML_MAX_DIMS).</summary>
    public const int MaxDimensions = 4;

    /// <summary>Reads and validates the GGUF file at <paramref name="path"/>.</summary>
    /// <exception cref="GgufFormatException">The file is not a valid GGUF file.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static GgufFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Read(fs, path);
    }

    /// <summary>Reads and validates a GGUF file from a seekable stream positioned at its start.</summary>
    /// <exception cref="GgufFormatException">The stream does not hold a valid GGUF file.</exception>
    public static GgufFile Read(Stream stream, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek) throw new ArgumentException("the stream must be seekable", nameof(stream));
        return new Parser(stream, path).Parse();
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private sealed class Parser(Stream stream, string? path)
    {
        private readonly long _size = stream.Length - stream.Position;
        private readonly byte[] _scratch = new byte[8];
        private readonly byte[] _scratchString = new byte[256];
        private readonly Dictionary<string, long> _keyOffsets = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _tensorOffsets = new(StringComparer.Ordinal);
        private long _pos;

        private GgufFormatException Fail(string problem, long at) => new(problem, at, path);

        private long Remaining => _size - _pos;

        private void ReadExact(Span<byte> dst, string what)
        {
            long at = _pos;
            if (dst.Length > Remaining) throw Fail($"file ends inside {what} (needs {dst.Length} bytes, {Remaining} left)", at);
            int done = 0;
            while (done < dst.Length)
            {
                int n = stream.Read(dst[done..]);
                if (n <= 0) throw Fail($"unexpected end of stream inside {what}", _pos + done);
                done += n;
            }
            _pos += dst.Length;
        }

        private uint U32(string what) { ReadExact(_scratch.AsSpan(0, 4), what); return BinaryPrimitives.ReadUInt32LittleEndian(_scratch); }
        private ulong U64(string what) { ReadExact(_scratch.AsSpan(0, 8), what); return BinaryPrimitives.ReadUInt64LittleEndian(_scratch); }

        private string Str(string what)
        {
            long at = _pos;
            ulong len = U64($"the length of {what}");
            if (len > (ulong)Remaining) throw Fail($"{what} claims {len} bytes but only {Remaining} remain in the file", at);
            if (len > int.MaxValue) throw Fail($"{what} is {len} bytes long, more than supported", at);
            if (len == 0) return string.Empty;
            byte[] buf = len <= 256 ? _scratchString : new byte[len];
            var span = buf.AsSpan(0, (int)len);
            ReadExact(span, what);
            // GGUF strings are UTF-8. A lossy decode would map distinct invalid byte strings to the same
            // text (two vocabulary entries llama.cpp tells apart would look equal here, or the reverse),
            // so invalid UTF-8 is refused.
            try { return StrictUtf8.GetString(span); }
            catch (DecoderFallbackException) { throw Fail($"{what} is not valid UTF-8", at + 8); }
        }
        public GgufFile Parse()
        {
            if (_size < 24) throw Fail($"file is {_size} bytes, too small for a GGUF header (24 bytes)", 0);
            uint magic = U32("the magic");
            if (magic != Magic)
                throw Fail($"bad magic 0x{magic:X8} (expected 'GGUF', 0x{Magic:X8})", 0);
            uint version = U32("the version");
            if (version == 1) throw Fail("GGUF version 1 is not supported (32-bit counts); re-convert the model", 4);
            if (version is 0 or > 3) throw Fail($"unsupported GGUF version {version}", 4);

            long tcAt = _pos;
            ulong tensorCount = U64("the tensor count");
            long kvAt = _pos;
            ulong kvCount = U64("the metadata count");
            // Each metadata entry needs at least a key length (8), a type (4) and one value byte;
            // each tensor entry a name length (8), n_dims (4), one dimension (8), a type (4), an offset (8).
            if (kvCount > (ulong)Remaining / 13)
                throw Fail($"metadata count {kvCount} cannot fit in the {_size}-byte file", kvAt);
            if (tensorCount > (ulong)Remaining / 32)
                throw Fail($"tensor count {tensorCount} cannot fit in the {_size}-byte file", tcAt);

            var metadata = new List<GgufMetadataEntry>((int)kvCount);
            var keys = new HashSet<string>(StringComparer.Ordinal);
            for (ulong i = 0; i < kvCount; i++)
            {
                long at = _pos;
                string key = Str($"metadata key #{i}");
                if (key.Length == 0) throw Fail($"metadata key #{i} is empty", at);
                // llama.cpp looks keys up with strcmp (gguf_find_key): "a\0b" would answer for "a".
                if (key.Contains('\0', StringComparison.Ordinal)) throw Fail($"metadata key #{i} '{key.Replace("\0", "\\0", StringComparison.Ordinal)}' holds a NUL byte", at);
                if (!keys.Add(key)) throw Fail($"duplicate metadata key '{key}'", at);
                long typeAt = _pos;
                var type = (GgufValueType)U32($"the type of '{key}'");
                object value = ReadValue(type, key, typeAt);
                metadata.Add(new GgufMetadataEntry(key, type, value));
                _keyOffsets[key] = at;
            }

            long alignment = DefaultAlignment;
            var alignEntry = metadata.Find(e => e.Key == "general.alignment");
            if (alignEntry is not null)
            {
                if (alignEntry.Value is not uint a)
                    throw Fail($"general.alignment must be a uint32, found {alignEntry.Type}", 0);
                if (a == 0 || (a & (a - 1)) != 0) throw Fail($"general.alignment {a} is not a power of two", 0);
                alignment = a;
            }

            var tensors = new List<GgufTensorInfo>((int)tensorCount);
            var names = new HashSet<string>(StringComparer.Ordinal);
            long expectedOffset = 0;
            for (ulong i = 0; i < tensorCount; i++)
            {
                long at = _pos;
                string name = Str($"the name of tensor #{i}");
                if (name.Length == 0) throw Fail($"tensor #{i} has an empty name", at);
                // ggml copies names into fixed C strings and finds tensors by strcmp: "a\0b" would answer for "a".
                if (name.Contains('\0', StringComparison.Ordinal)) throw Fail($"tensor #{i} name '{name.Replace("\0", "\\0", StringComparison.Ordinal)}' holds a NUL byte", at);
                if (Encoding.UTF8.GetByteCount(name) > MaxTensorNameLength)
                    throw Fail($"tensor name '{name}' is longer than {MaxTensorNameLength} bytes", at);
                if (!names.Add(name)) throw Fail($"duplicate tensor name '{name}'", at);
                _tensorOffsets[name] = at;

                long dimsAt = _pos;
                uint nDims = U32($"the dimension count of '{name}'");
                if (nDims is 0 or > MaxDimensions)
                    throw Fail($"tensor '{name}' has {nDims} dimensions (1..{MaxDimensions} allowed)", dimsAt);
                var dims = new long[nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++)
                {
                    long dAt = _pos;
                    ulong dim = U64($"dimension {d} of '{name}'");
                    if (dim == 0 || dim > long.MaxValue)
                        throw Fail($"tensor '{name}' has invalid dimension {d} = {dim}", dAt);
                    dims[d] = (long)dim;
                    if (elements > long.MaxValue / dims[d])
                        throw Fail($"tensor '{name}' has more elements than fit in 64 bits", dAt);
                    elements *= dims[d];
                }

                long typeAt = _pos;
                var ttype = (GgmlType)U32($"the type of '{name}'");
                if (!GgmlTypeInfo.TryGetBlock(ttype, out int be, out int bb))
                    throw Fail($"tensor '{name}' has unknown or removed ggml type {(uint)ttype}", typeAt);
                if (dims[0] % be != 0)
                    throw Fail($"tensor '{name}' of type {ttype}: first dimension {dims[0]} is not a multiple of the block size {be}", typeAt);
                long bytes;
                try { bytes = GgmlTypeInfo.TensorBytes(ttype, dims); }
                catch (OverflowException) { throw Fail($"tensor '{name}' is larger than 2^63 bytes", typeAt); }

                long offAt = _pos;
                ulong offset = U64($"the data offset of '{name}'");
                if (offset % (ulong)alignment != 0)
                    throw Fail($"tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}", offAt);
                if (offset != (ulong)expectedOffset)
                    throw Fail($"tensor '{name}' has data offset {offset}, expected {expectedOffset} (tensors must be stored in order, each padded to the alignment)", offAt);
                if (bytes > _size) throw Fail($"tensor '{name}' needs {bytes} bytes, more than the whole file", offAt);
                tensors.Add(new GgufTensorInfo(name, ttype, dims, (long)offset));
                expectedOffset = checked(expectedOffset + AlignUp(bytes, alignment));
            }

            long dataOffset = AlignUp(_pos, alignment);
            foreach (var t in tensors)
            {
                long end = dataOffset + t.Offset + t.ByteSize;
                if (end > _size)
                    throw Fail($"tensor '{t.Name}' data [{dataOffset + t.Offset}, {end}) lies outside the {_size}-byte file", dataOffset + t.Offset);
            }
            if (tensors.Count > 0 && dataOffset > _size)
                throw Fail("the data section starts past the end of the file", dataOffset);
            return new GgufFile(version, metadata, tensors, alignment, dataOffset, _size, path)
            {
                KeyOffsets = _keyOffsets,
                TensorInfoOffsets = _tensorOffsets,
            };
        }

        private static long AlignUp(long v, long a) => (v + a - 1) / a * a;

        private static int MinSize(GgufValueType t) => t switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            _ => 0,
        };

        private object ReadValue(GgufValueType type, string key, long typeAt)
        {
            switch (type)
            {
                case GgufValueType.Array:
                {
                    long at = _pos;
                    var et = (GgufValueType)U32($"the element type of '{key}'");
                    if (et == GgufValueType.Array) throw Fail($"'{key}' is a nested array, which GGUF readers do not support", at);
                    int min = MinSize(et);
                    if (min == 0) throw Fail($"'{key}' has invalid array element type {(uint)et}", at);
                    long countAt = _pos;
                    ulong count = U64($"the length of '{key}'");
                    if (count > (ulong)Remaining / (ulong)min)
                        throw Fail($"array '{key}' claims {count} elements of {et}, more than the {Remaining} bytes left can hold", countAt);
                    return new GgufArray(et, ReadArray(et, (int)count, key));
                }
                case GgufValueType.String:
                    return Str($"the value of '{key}'");
                default:
                    if (MinSize(type) == 0) throw Fail($"'{key}' has invalid value type {(uint)type}", typeAt);
                    return ReadScalar(type, key);
            }
        }

        private object ReadScalar(GgufValueType type, string key)
        {
            int n = MinSize(type);
            long at = _pos;
            ReadExact(_scratch.AsSpan(0, n), $"the value of '{key}'");
            var s = _scratch.AsSpan(0, n);
            return type switch
            {
                GgufValueType.UInt8 => s[0],
                GgufValueType.Int8 => (sbyte)s[0],
                GgufValueType.Bool => s[0] switch { 0 => false, 1 => true, _ => throw Fail($"'{key}' has bool value {s[0]} (0 or 1 expected)", at) },
                GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(s),
                GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(s),
                GgufValueType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(s),
                GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(s),
                GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(s),
                GgufValueType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(s),
                GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(s),
                GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(s),
                _ => throw new InvalidOperationException(),
            };
        }

        private Array ReadArray(GgufValueType et, int count, string key)
        {
            if (et == GgufValueType.String)
            {
                var strings = new string[count];
                for (int i = 0; i < count; i++) strings[i] = Str($"element {i} of '{key}'");
                return strings;
            }
            int size = MinSize(et);
            var raw = new byte[(long)count * size];
            ReadExact(raw, $"the elements of '{key}'");
            switch (et)
            {
                case GgufValueType.UInt8: return raw;
                case GgufValueType.Int8: return Convert<sbyte>(raw, count);
                case GgufValueType.Bool:
                {
                    var b = new bool[count];
                    for (int i = 0; i < count; i++) b[i] = raw[i] != 0;
                    return b;
                }
                case GgufValueType.UInt16: return Convert<ushort>(raw, count);
                case GgufValueType.Int16: return Convert<short>(raw, count);
                case GgufValueType.UInt32: return Convert<uint>(raw, count);
                case GgufValueType.Int32: return Convert<int>(raw, count);
                case GgufValueType.Float32: return Convert<float>(raw, count);
                case GgufValueType.UInt64: return Convert<ulong>(raw, count);
                case GgufValueType.Int64: return Convert<long>(raw, count);
                case GgufValueType.Float64: return Convert<double>(raw, count);
                default: throw new InvalidOperationException();
            }
        }

        // GGUF is little-endian, like every platform .NET runs FastRank on; a reinterpreting copy is exact.
        private static T[] Convert<T>(byte[] raw, int count) where T : unmanaged
        {
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
            var result = new T[count];
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(raw).CopyTo(result);
            return result;
        }
    }
}
