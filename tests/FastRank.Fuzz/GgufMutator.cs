using System.Buffers.Binary;
using System.Text;
using FastRank.Gguf;

namespace FastRank.Fuzz;

/// <summary>The ways <see cref="GgufMutator"/> corrupts a valid GGUF file.</summary>
public enum GgufMutation
{
    /// <summary>Cut the file at a random length.</summary>
    Truncate,

    /// <summary>Flip one to three bits of the header (metadata and tensor directory).</summary>
    HeaderBitFlip,

    /// <summary>Set a count or length field (tensor count, metadata count, string or array length) to a huge value.</summary>
    HugeCount,

    /// <summary>Set a type code (metadata value type, array element type, tensor type) to another value.</summary>
    TypeCode,

    /// <summary>Move a tensor's data offset: onto another tensor, past the end, unaligned, huge.</summary>
    TensorOffset,

    /// <summary>Set a tensor dimension to 0, a huge value or one whose product overflows.</summary>
    TensorDimension,

    /// <summary>Overwrite a vocabulary entry with the text of another entry of the same length.</summary>
    DuplicateToken,

    /// <summary>Rename a byte token (<c>&lt;0xNN&gt;</c>) or another entry so that it no longer exists.</summary>
    MissingToken,

    /// <summary>Set an integer hyperparameter of the architecture to an edge value.</summary>
    HyperParameter,

    /// <summary>Write odd placeholders and control-token spellings into the chat templates.</summary>
    TemplatePlaceholder,

    /// <summary>Overwrite random bytes anywhere in the file.</summary>
    RandomBytes,

    /// <summary>Rewrite a metadata entry with another value type (u32 as i32, f32, string, array; string as u32).</summary>
    WrongValueType,

    /// <summary>Replace a per-layer hyperparameter by an array of the wrong length or with zeros in it.</summary>
    PerLayerArray,

    /// <summary>Give a tensor another ggml type (its data resized), e.g. a quantized norm or an integer matrix.</summary>
    TensorType,

    /// <summary>Give a tensor a consistent but wrong shape (dimensions swapped, dropped, added, scaled).</summary>
    TensorShape,

    /// <summary>Drop a metadata entry or a tensor.</summary>
    Remove,

    /// <summary>Set a float hyperparameter to NaN, an infinity, 0 or a huge value.</summary>
    FloatParameter,
}

/// <summary>
/// Deterministic, structure-aware corruption of a valid GGUF file: it scans the file's header once (the
/// positions of counts, lengths, type codes, tensor fields, vocabulary entries, integer hyperparameters and
/// templates) and rewrites fields in place, so that every mutation reaches the check it aims at. The same
/// (file, mutation, seed) always gives the same bytes.
/// </summary>
public sealed class GgufMutator
{
    private readonly byte[] _original;
    private readonly List<long> _counts = [];   // u64 fields: tensor/kv counts, string and array lengths
    private readonly List<long> _types = [];    // u32 type codes: kv value types, array element types
    private readonly List<long> _tensorTypes = [];
    private readonly List<long> _tensorOffsets = [];
    private readonly List<long> _dims = [];
    private readonly List<(long At, int Length)> _tokens = [];
    private readonly List<(long At, uint Value)> _hparams = [];
    private readonly List<(long At, int Length)> _templates = [];
    private readonly List<long> _floats = [];
    private long _headerEnd;

    private static readonly ulong[] HugeValues =
    [
        ulong.MaxValue, long.MaxValue, 1UL << 63, 1UL << 62, 1UL << 40, 1UL << 32, (1UL << 32) - 1, 1UL << 31, int.MaxValue, 1UL << 20,
    ];

    private static readonly string[] OddPlaceholders =
    [
        "{query}", "{document}", "{system}", "{user}", "{{", "}}", "{%", "%}", "{{ messages[0]['content'] }}", "{", "}",
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "\0", "{instruction}", "{{{{", "%s%n", "\uFFFD",
    ];

    /// <summary>Scans <paramref name="valid"/>, which must be a well-formed GGUF file.</summary>
    public GgufMutator(byte[] valid)
    {
        _original = valid;
        Scan();
    }

    /// <summary>The unmodified file.</summary>
    public ReadOnlySpan<byte> Original => _original;

    /// <summary>End of the tensor directory (start of the padding before the data).</summary>
    public long HeaderEnd => _headerEnd;

    /// <summary>Returns a corrupted copy of the file.</summary>
    public byte[] Apply(GgufMutation mutation, ulong seed)
    {
        var rng = new Random((int)(seed ^ (seed >> 32)) ^ (int)mutation * 7919);
        byte[] b = (byte[])_original.Clone();
        switch (mutation)
        {
            case GgufMutation.Truncate:
                // Mostly inside the header, where every byte matters; sometimes inside the data.
                long cut = rng.Next(4) == 0 ? rng.NextInt64(_headerEnd, b.Length) : rng.NextInt64(0, _headerEnd);
                return b[..(int)cut];
            case GgufMutation.HeaderBitFlip:
                for (int i = rng.Next(1, 4); i > 0; i--)
                {
                    long at = rng.NextInt64(0, _headerEnd);
                    b[at] ^= (byte)(1 << rng.Next(8));
                }
                return b;
            case GgufMutation.HugeCount:
                WriteU64(b, Pick(rng, _counts), rng.Next(3) == 0 ? (ulong)rng.NextInt64() : HugeValues[rng.Next(HugeValues.Length)]);
                return b;
            case GgufMutation.TypeCode:
            {
                bool tensor = rng.Next(2) == 0 && _tensorTypes.Count > 0;
                long at = Pick(rng, tensor ? _tensorTypes : _types);
                uint v = rng.Next(4) switch { 0 => (uint)rng.Next(0, 16), 1 => (uint)rng.Next(16, 48), 2 => uint.MaxValue - (uint)rng.Next(4), _ => (uint)rng.Next() };
                WriteU32(b, at, v);
                return b;
            }
            case GgufMutation.TensorOffset:
            {
                int i = rng.Next(_tensorOffsets.Count);
                ulong other = ReadU64(_original, _tensorOffsets[rng.Next(_tensorOffsets.Count)]);
                ulong cur = ReadU64(_original, _tensorOffsets[i]);
                ulong v = rng.Next(5) switch
                {
                    0 => other,                           // overlap another tensor
                    1 => (ulong)_original.Length,         // past the end
                    2 => cur + 1,                         // unaligned
                    3 => cur + 32 * (ulong)rng.Next(1, 1 << 16),
                    _ => HugeValues[rng.Next(HugeValues.Length)],
                };
                WriteU64(b, _tensorOffsets[i], v);
                return b;
            }
            case GgufMutation.TensorDimension:
            {
                long at = Pick(rng, _dims);
                ulong cur = ReadU64(_original, at);
                ulong v = rng.Next(5) switch
                {
                    0 => 0,
                    1 => HugeValues[rng.Next(HugeValues.Length)],
                    2 => cur * 2,
                    3 => cur + 1,
                    _ => Math.Max(1, cur / 2),
                };
                WriteU64(b, at, v);
                return b;
            }
            case GgufMutation.DuplicateToken:
            {
                if (_tokens.Count < 2) return b;
                var (at, len) = _tokens[rng.Next(_tokens.Count)];
                for (int tries = 0; tries < 64; tries++)
                {
                    var (at2, len2) = _tokens[rng.Next(_tokens.Count)];
                    if (len2 == len && at2 != at)
                    {
                        Array.Copy(_original, at2, b, at, len);
                        return b;
                    }
                }
                return b;
            }
            case GgufMutation.MissingToken:
            {
                var bytes = _tokens.Where(t => t.Length == 6 && _original[t.At] == '<' && _original[t.At + 1] == '0' && _original[t.At + 2] == 'x').ToList();
                var (at, len) = bytes.Count > 0 && rng.Next(4) != 0 ? bytes[rng.Next(bytes.Count)] : _tokens[rng.Next(_tokens.Count)];
                if (len == 0) return b;
                // A character no vocabulary entry of this shape uses: the entry disappears without a duplicate.
                b[at + Math.Min(2, len - 1)] = (byte)'\u007f';
                return b;
            }
            case GgufMutation.HyperParameter:
            {
                if (_hparams.Count == 0) return b;
                var (at, cur) = _hparams[rng.Next(_hparams.Count)];
                uint v = rng.Next(8) switch
                {
                    0 => 0,
                    1 => 1,
                    2 => cur - 1,
                    3 => cur + 1,
                    4 => cur * 2,
                    5 => uint.MaxValue,
                    6 => 1u << 31,
                    _ => (uint)rng.Next(0, 1024),
                };
                WriteU32(b, at, v);
                return b;
            }
            case GgufMutation.TemplatePlaceholder:
            {
                if (_templates.Count == 0) return b;
                var (at, len) = _templates[rng.Next(_templates.Count)];
                for (int i = rng.Next(1, 6); i > 0; i--)
                {
                    byte[] p = Encoding.UTF8.GetBytes(OddPlaceholders[rng.Next(OddPlaceholders.Length)]);
                    if (p.Length > len) continue;
                    // Whole UTF-8 sequences only: the template stays valid UTF-8 (the reader refuses anything else).
                    int start = rng.Next(0, len - p.Length + 1);
                    while (start > 0 && (b[at + start] & 0xC0) == 0x80) start--;
                    int end = start + p.Length;
                    if (end < len && (b[at + end] & 0xC0) == 0x80) continue;
                    Array.Copy(p, 0, b, at + start, p.Length);
                }
                return b;
            }
            case GgufMutation.WrongValueType or GgufMutation.PerLayerArray or GgufMutation.TensorType
                or GgufMutation.TensorShape or GgufMutation.Remove:
                return Rebuild(mutation, rng);
            case GgufMutation.FloatParameter:
            {
                if (_floats.Count == 0) return b;
                float[] odd = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -1f, 1e38f, float.Epsilon, -0f];
                System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan((int)_floats[rng.Next(_floats.Count)], 4), odd[rng.Next(odd.Length)]);
                return b;
            }
            case GgufMutation.RandomBytes:
            default:
                for (int i = rng.Next(1, 9); i > 0; i--) b[rng.NextInt64(0, b.Length)] = (byte)rng.Next(256);
                return b;
        }
    }

    // Mutations that change sizes: read the file, change one entry or tensor, write it again with GgufWriter.
    private byte[] Rebuild(GgufMutation mutation, Random rng)
    {
        var f = GgufReader.Read(new MemoryStream(_original, writable: false));
        string arch = f.Architecture ?? "llama";
        long layers = f.GetArchInteger("block_count") ?? 1;
        var meta = f.MetadataList.Where(e => e.Key != "general.alignment").ToList();
        var tensors = f.Tensors.Select(t => (t.Name, t.Type, Dims: (long[])t.Dimensions.Clone(), Source: t)).ToList();
        switch (mutation)
        {
            case GgufMutation.WrongValueType:
            {
                var candidates = meta.Where(e => e.Key.StartsWith(arch + ".", StringComparison.Ordinal) || e.Key.StartsWith("tokenizer.", StringComparison.Ordinal) || e.Key == "general.architecture").ToList();
                int i = meta.IndexOf(candidates[rng.Next(candidates.Count)]);
                var e = meta[i];
                object v = e.Value;
                (GgufValueType t, object nv) = v switch
                {
                    uint u => rng.Next(5) switch
                    {
                        0 => (GgufValueType.Int32, (object)(int)u),
                        1 => (GgufValueType.Float32, (float)u),
                        2 => (GgufValueType.String, u.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                        3 => (GgufValueType.UInt64, (ulong)u),
                        _ => (GgufValueType.Array, new GgufArray(GgufValueType.UInt32, Enumerable.Repeat(u, rng.Next(0, 4)).ToArray())),
                    },
                    string str => rng.Next(2) == 0 ? (GgufValueType.UInt32, (object)(uint)str.Length) : (GgufValueType.Array, new GgufArray(GgufValueType.String, new[] { str })),
                    float x => (GgufValueType.UInt32, (object)(uint)Math.Clamp(x, 0, uint.MaxValue)),
                    GgufArray a => rng.Next(2) == 0
                        ? (GgufValueType.UInt32, (object)(uint)a.Count)
                        : (GgufValueType.Array, new GgufArray(a.ElementType == GgufValueType.String ? GgufValueType.Int32 : GgufValueType.String,
                            a.ElementType == GgufValueType.String ? new int[a.Count] : Enumerable.Range(0, a.Count).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray())),
                    _ => (GgufValueType.String, (object)"x"),
                };
                meta[i] = new GgufMetadataEntry(e.Key, t, nv);
                break;
            }
            case GgufMutation.PerLayerArray:
            {
                string[] keys = ["attention.head_count", "attention.head_count_kv", "feed_forward_length"];
                string key = $"{arch}.{keys[rng.Next(keys.Length)]}";
                int i = meta.FindIndex(e => e.Key == key);
                uint cur = i >= 0 && meta[i].Value is uint u ? u : 4;
                int len = rng.Next(4) switch { 0 => (int)layers, 1 => (int)layers - 1, 2 => (int)layers + 1, _ => rng.Next(0, 600) };
                var values = Enumerable.Range(0, Math.Max(0, len)).Select(_ => rng.Next(3) switch { 0 => cur, 1 => 0u, _ => (uint)rng.Next(1, 64) }).ToArray();
                var entry = rng.Next(2) == 0
                    ? new GgufMetadataEntry(key, GgufValueType.Array, new GgufArray(GgufValueType.UInt32, values))
                    : new GgufMetadataEntry(key, GgufValueType.Array, new GgufArray(GgufValueType.Int32, values.Select(x => (int)x).ToArray()));
                if (i >= 0) meta[i] = entry;
                else meta.Add(entry);
                break;
            }
            case GgufMutation.TensorType:
            {
                int i = rng.Next(tensors.Count);
                var (name, _, dims, src) = tensors[i];
                GgmlType[] types = [GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q8_1, GgmlType.Q8_K, GgmlType.Q4_K,
                    GgmlType.I8, GgmlType.I16, GgmlType.I32, GgmlType.I64, GgmlType.F64, GgmlType.IQ4_NL, GgmlType.TQ1_0, GgmlType.MXFP4];
                var candidates = types.Where(t => GgmlTypeInfo.TryGetBlock(t, out int be, out _) && dims[0] % be == 0).ToArray();
                tensors[i] = (name, candidates[rng.Next(candidates.Length)], dims, src);
                break;
            }
            case GgufMutation.TensorShape:
            {
                int i = rng.Next(tensors.Count);
                var (name, type, dims, src) = tensors[i];
                long[] nd = rng.Next(5) switch
                {
                    0 when dims.Length == 2 => [dims[1], dims[0]],
                    1 when dims.Length > 1 => dims[..^1],
                    2 when dims.Length < 4 => [.. dims, 1],
                    3 => [.. dims.Select((d, k) => k == dims.Length - 1 ? d * 2 : d)],
                    _ => [.. dims.Select((d, k) => k == dims.Length - 1 ? Math.Max(1, d / 2) : d)],
                };
                tensors[i] = (name, type, nd, src);
                break;
            }
            case GgufMutation.Remove:
                if (rng.Next(2) == 0) meta.RemoveAt(rng.Next(meta.Count));
                else tensors.RemoveAt(rng.Next(tensors.Count));
                break;
        }
        var w = new GgufWriter { Alignment = (int)f.Alignment };
        foreach (var e in meta) w.Add(e.Key, e.Type, e.Value);
        foreach (var (name, type, dims, src) in tensors)
        {
            long bytes = GgmlTypeInfo.TensorBytes(type, dims);
            long from = f.DataOffset + src.Offset;
            long have = Math.Min(bytes, src.ByteSize);
            w.AddTensor(name, type, dims, s =>
            {
                s.Write(_original, (int)from, (int)have);
                if (bytes > have) s.Write(new byte[bytes - have]);
            });
        }
        using var ms = new MemoryStream();
        w.Write(ms);
        return ms.ToArray();
    }

    private static long Pick(Random rng, List<long> from) => from[rng.Next(from.Count)];

    private static ulong ReadU64(byte[] b, long at) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan((int)at, 8));

    private static void WriteU64(byte[] b, long at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)at, 8), v);

    private static void WriteU32(byte[] b, long at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan((int)at, 4), v);

    // A plain walk of a valid header, recording where each field lives.
    private void Scan()
    {
        long p = 8;
        _counts.Add(p);
        ulong nTensors = ReadU64(_original, p);
        p += 8;
        _counts.Add(p);
        ulong nKv = ReadU64(_original, p);
        p += 8;
        string? arch = null;
        for (ulong i = 0; i < nKv; i++)
        {
            string key = ReadString(ref p);
            _types.Add(p);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(_original.AsSpan((int)p, 4));
            p += 4;
            if (type == 9) // array
            {
                _types.Add(p);
                uint et = BinaryPrimitives.ReadUInt32LittleEndian(_original.AsSpan((int)p, 4));
                p += 4;
                _counts.Add(p);
                ulong n = ReadU64(_original, p);
                p += 8;
                bool tokens = key == "tokenizer.ggml.tokens";
                for (ulong j = 0; j < n; j++)
                {
                    if (et == 8)
                    {
                        long at = p;
                        string s = ReadString(ref p);
                        if (tokens) _tokens.Add((at + 8, (int)(p - at - 8)));
                        _ = s;
                    }
                    else
                    {
                        p += Size(et);
                    }
                }
            }
            else if (type == 8)
            {
                long at = p;
                string s = ReadString(ref p);
                if (key == "general.architecture") arch = s;
                if (key.StartsWith("tokenizer.chat_template", StringComparison.Ordinal)) _templates.Add((at + 8, (int)(p - at - 8)));
            }
            else
            {
                if (type == 4 && arch is not null && key.StartsWith(arch + ".", StringComparison.Ordinal))
                    _hparams.Add((p, BinaryPrimitives.ReadUInt32LittleEndian(_original.AsSpan((int)p, 4))));
                if (type == 6 && arch is not null && key.StartsWith(arch + ".", StringComparison.Ordinal)) _floats.Add(p);
                if (type == 4 && key.StartsWith("tokenizer.ggml.", StringComparison.Ordinal) && key.EndsWith("_id", StringComparison.Ordinal))
                    _hparams.Add((p, BinaryPrimitives.ReadUInt32LittleEndian(_original.AsSpan((int)p, 4))));
                p += Size(type);
            }
        }
        for (ulong i = 0; i < nTensors; i++)
        {
            ReadString(ref p);
            uint nd = BinaryPrimitives.ReadUInt32LittleEndian(_original.AsSpan((int)p, 4));
            p += 4;
            for (uint d = 0; d < nd; d++)
            {
                _dims.Add(p);
                p += 8;
            }
            _tensorTypes.Add(p);
            p += 4;
            _tensorOffsets.Add(p);
            p += 8;
        }
        _headerEnd = p;
    }

    private string ReadString(ref long p)
    {
        _counts.Add(p);
        int n = (int)ReadU64(_original, p);
        p += 8;
        string s = Encoding.UTF8.GetString(_original, (int)p, n);
        p += n;
        return s;
    }

    private static int Size(uint type) => type switch
    {
        0 or 1 or 7 => 1,
        2 or 3 => 2,
        4 or 5 or 6 => 4,
        10 or 11 or 12 => 8,
        _ => throw new InvalidDataException($"unexpected GGUF value type {type} in a valid file"),
    };
}
