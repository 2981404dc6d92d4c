using System.Buffers.Binary;
using System.Text;

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
            case GgufMutation.RandomBytes:
            default:
                for (int i = rng.Next(1, 9); i > 0; i--) b[rng.NextInt64(0, b.Length)] = (byte)rng.Next(256);
                return b;
        }
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
