using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using FastRank.Gguf;
using FastRank.Interop;
using FastRank.Prompts;
using LLama;
using LLama.Common;
using Microsoft.Extensions.Logging;

namespace FastRank.Engine;

/// <summary>How a model is loaded.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Layers offloaded to a GPU (needs a GPU build of llama.cpp; 0 on the CPU package).</summary>
    public int GpuLayers { get; init; }
}

/// <summary>
/// A GGUF model loaded into llama.cpp, after FastRank validated its header, with the vocabulary
/// facts the prompt builders need. Thread-safe for tokenization; owns the native weights.
/// </summary>
public sealed unsafe class LlamaModel : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly IntPtr _vocab;
    private readonly LlamaTokenAttr[] _attrs;
    private readonly string[] _markerTexts;
    private readonly Dictionary<char, (string Text, int Id)[]> _specials;
    private int[]? _pieceBytes;

    private LlamaModel(string path, GgufFile header, LLamaWeights weights)
    {
        Path = path;
        Header = header;
        _weights = weights;
        _vocab = LlamaNative.llama_model_get_vocab(weights.NativeHandle.DangerousGetHandle());
        VocabSize = LlamaNative.llama_vocab_n_tokens(_vocab);
        _attrs = new LlamaTokenAttr[VocabSize];
        var markers = new List<string>();
        var specials = new List<(string Text, int Id)>();
        for (int t = 0; t < VocabSize; t++)
        {
            _attrs[t] = (LlamaTokenAttr)LlamaNative.llama_vocab_get_attr(_vocab, t);
            if ((_attrs[t] & (LlamaTokenAttr.Control | LlamaTokenAttr.UserDefined | LlamaTokenAttr.Unknown)) == 0) continue;
            string text = TokenText(t);
            if (text.Length > 0) specials.Add((text, t));
            if ((_attrs[t] & LlamaTokenAttr.UserDefined) != 0 && IsMarker(text)) markers.Add(text);
        }
        _markerTexts = [.. markers];
        // Longest first, as llama.cpp's special-token partition matches them.
        _specials = specials.GroupBy(s => s.Text[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(s => s.Text.Length).ThenBy(s => s.Id).ToArray());
        Bos = LlamaNative.llama_vocab_bos(_vocab);
        Eos = LlamaNative.llama_vocab_eos(_vocab);
        AddBos = LlamaNative.llama_vocab_get_add_bos(_vocab);
        var h = weights.NativeHandle;
        LayerCount = h.LayerCount;
        HeadCount = h.HeadCount;
        KvHeadCount = h.KVHeadCount;
        EmbeddingSize = h.EmbeddingSize;
        TrainContextLength = h.ContextSize;
        SizeInBytes = (long)weights.SizeInBytes;
        long? keyLen = header.GetArchInteger("attention.key_length");
        HeadDim = (int)(keyLen ?? (EmbeddingSize / Math.Max(1, HeadCount)));
        long? valLen = header.GetArchInteger("attention.value_length");
        ValueHeadDim = (int)(valLen ?? HeadDim);
    }

    /// <summary>Validates and loads the GGUF at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="GgufFormatException">The file is not a valid GGUF file (or, as <see cref="GgufModelException"/>, its contents would make llama.cpp abort); llama.cpp never sees it.</exception>
    /// <exception cref="ModelLoadException">llama.cpp refused the model.</exception>
    public static LlamaModel Load(string path, ModelLoadOptions? options = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new ModelLoadOptions();
        if (!File.Exists(path)) throw new FileNotFoundException($"model file '{path}' does not exist", path);
        var header = GgufReader.Read(path);
        GgufModelValidator.Validate(header); // semantic faults llama.cpp would abort on, as GgufModelException
        GgufLoadProbe.Default?.Verify(path); // opt-in: a first load of new content in a child process
        if (header.Tensors.Count == 0) throw new ModelLoadException($"'{path}' is a GGUF file without tensors (a vocabulary-only file?)");
        LlamaRuntime.EnsureLoaded();
        LLamaWeights weights;
        try
        {
            var mp = new ModelParams(path) { GpuLayerCount = options.GpuLayers };
            weights = LLamaWeights.LoadFromFile(mp);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new ModelLoadException($"llama.cpp could not load '{path}': {ex.Message}", ex);
        }
        try
        {
            var model = new LlamaModel(path, header, weights) { GpuLayers = options.GpuLayers };
            logger?.LogInformation("Loaded {Path}: {Arch}, {Layers} layers, {Embd}-dim, vocab {Vocab}, {Size:F1} MB",
                path, header.Architecture, model.LayerCount, model.EmbeddingSize, model.VocabSize, model.SizeInBytes / 1e6);
            return model;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>The file path.</summary>
    public string Path { get; }

    /// <summary>Layers offloaded to a GPU when loading (<see cref="ModelLoadOptions.GpuLayers"/>).</summary>
    internal int GpuLayers { get; private init; }

    /// <summary>The validated GGUF header.</summary>
    public GgufFile Header { get; }

    /// <summary>Number of tokens in the vocabulary.</summary>
    public int VocabSize { get; }

    /// <summary>Beginning-of-sequence token.</summary>
    public int Bos { get; }

    /// <summary>End-of-sequence token.</summary>
    public int Eos { get; }

    /// <summary>Whether prompts start with BOS.</summary>
    public bool AddBos { get; }

    /// <summary>Transformer blocks.</summary>
    public int LayerCount { get; }

    /// <summary>Attention heads.</summary>
    public int HeadCount { get; }

    /// <summary>Key/value heads.</summary>
    public int KvHeadCount { get; }

    /// <summary>Dimension of one key head.</summary>
    public int HeadDim { get; }

    /// <summary>Dimension of one value head.</summary>
    public int ValueHeadDim { get; }

    /// <summary>Model width.</summary>
    public int EmbeddingSize { get; }

    /// <summary>Training context length.</summary>
    public int TrainContextLength { get; }

    /// <summary>Bytes of weights.</summary>
    public long SizeInBytes { get; }

    /// <summary>Bytes of KV cache one token position takes (all layers, K and V, f16).</summary>
    public long KvBytesPerCell => KvCellBytes(LayerCount, KvHeadCount, HeadDim, ValueHeadDim);

    /// <summary>
    /// Bytes of KV cache one token position takes: f16 keys and values of every layer (llama.cpp's default cache
    /// types, which every FastRank context uses). The one formula, for loaded models and for GGUF headers alike.
    /// </summary>
    internal static long KvCellBytes(long layers, long kvHeads, long keyDim, long valueDim) => layers * kvHeads * (keyDim + valueDim) * 2;

    internal LLamaWeights Weights => _weights;

    internal IntPtr NativeModel => _weights.NativeHandle.DangerousGetHandle();

    /// <summary>The chat template of the given name (null: the default one), or null when the GGUF has none.</summary>
    public string? ChatTemplate(string? name = null) =>
        Header.GetString(name is null ? "tokenizer.chat_template" : $"tokenizer.chat_template.{name}");

    /// <summary>The token's text as stored in the vocabulary (SentencePiece markers included).</summary>
    public string TokenText(int token)
    {
        byte* p = LlamaNative.llama_vocab_get_text(_vocab, token);
        return p is null ? string.Empty : Marshal.PtrToStringUTF8((IntPtr)p) ?? string.Empty;
    }

    /// <summary>The token's attributes.</summary>
    internal LlamaTokenAttr Attributes(int token) => _attrs[token];

    /// <summary>The text the token renders to (special tokens included).</summary>
    public string TokenPiece(int token)
    {
        Span<byte> buf = stackalloc byte[256];
        fixed (byte* b = buf)
        {
            int n = LlamaNative.llama_token_to_piece(_vocab, token, b, buf.Length, 0, true);
            if (n < 0)
            {
                byte[] big = new byte[-n];
                fixed (byte* bb = big) n = LlamaNative.llama_token_to_piece(_vocab, token, bb, big.Length, 0, true);
                return Encoding.UTF8.GetString(big, 0, Math.Max(0, n));
            }
            return Encoding.UTF8.GetString(buf[..n]);
        }
    }

    /// <summary>Renders tokens back to text (bytes are joined before decoding, so byte-fallback tokens of one character reassemble).</summary>
    public string Detokenize(ReadOnlySpan<int> tokens)
    {
        var bytes = new ArrayBufferWriter<byte>(tokens.Length * 4 + 16);
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)VocabSize) continue;
            Span<byte> dst = bytes.GetSpan(256);
            fixed (byte* b = dst)
            {
                int n = LlamaNative.llama_token_to_piece(_vocab, t, b, dst.Length, 0, true);
                if (n > 0) bytes.Advance(n);
            }
        }
        return Encoding.UTF8.GetString(bytes.WrittenSpan);
    }

    /// <summary>
    /// Tokenizes trusted template text: special-token text such as <c>&lt;|im_start|&gt;</c> becomes the control token.
    /// Never use it for query or document text.
    /// </summary>
    public int[] TokenizeTemplate(string text) => TokenizeRaw(text, parseSpecial: true);

    /// <summary>
    /// Tokenizes untrusted text (queries, documents): special-token parsing is off, and the USER_DEFINED
    /// marker tokens that llama.cpp matches even then (such as Qwen3's <c>&lt;think&gt;</c>) are broken up,
    /// so no text can produce a control or marker token.
    /// </summary>
    public int[] TokenizeText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (_markerTexts.Length == 0 || text.AsSpan().IndexOfAny('<', '[') < 0) return TokenizeRaw(text, parseSpecial: false);
        var result = new List<int>(text.Length / 3 + 4);
        TokenizeRun(text, 0, text.Length, [(0, text.Length)], result);
        return [.. result];
    }

    /// <summary>
    /// llama.cpp's own tokenization of <paramref name="text"/> with special-token parsing off and nothing added
    /// (USER_DEFINED markers such as <c>&lt;think&gt;</c> still match): what <see cref="TokenizeText"/> refines.
    /// The fidelity tests compare it with the Hugging Face tokenizer.
    /// </summary>
    internal int[] TokenizeUnparsed(string text) => TokenizeRaw(text, parseSpecial: false);

    /// <summary>
    /// Tokenizes untrusted text that will be cut to <paramref name="budget"/> tokens: a text far longer
    /// than the budget is cut by characters first (no token spans 32 characters), so a multi-megabyte
    /// document costs no more than its budget. The result has more than <paramref name="budget"/>
    /// tokens exactly when the text does.
    /// </summary>
    public int[] TokenizeTextBounded(string text, int budget)
    {
        ArgumentNullException.ThrowIfNull(text);
        long limit = (budget + 1L) * 32;
        if (text.Length <= limit) return TokenizeText(text);
        int cut = (int)limit;
        if (char.IsHighSurrogate(text[cut - 1])) cut--;
        int[] head = TokenizeText(text[..cut]);
        // Too few tokens would mean extraordinarily long tokens: fall back to the whole text.
        return head.Length > budget + 1 ? head : TokenizeText(text);
    }

    /// <summary>
    /// The id of <paramref name="text"/> when the vocabulary has it as one token: the bare form first,
    /// then with a leading space. Null when neither is a single token.
    /// </summary>
    public int? FindSingleToken(string text)
    {
        foreach (string candidate in (string[])[text, " " + text])
        {
            int[] t = TokenizeRaw(candidate, parseSpecial: false);
            if (t.Length == 1) return t[0];
        }
        return null;
    }

    private int[] TokenizeRaw(string text, bool parseSpecial)
    {
        if (text.Length == 0) return [];
        int byteCount = Encoding.UTF8.GetByteCount(text);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(byteCount + 1);
        int[] tokens = ArrayPool<int>.Shared.Rent(byteCount + 8);
        try
        {
            Encoding.UTF8.GetBytes(text, bytes);
            int n;
            fixed (byte* pb = bytes)
            fixed (int* pt = tokens)
                n = LlamaNative.llama_tokenize(_vocab, pb, byteCount, pt, tokens.Length, false, parseSpecial);
            if (n < 0) throw new InvalidOperationException($"tokenization needed {-n} tokens for {byteCount} bytes");
            return tokens.AsSpan(0, n).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<int>.Shared.Return(tokens);
        }
    }

    /// <summary>
    /// Tokenizes a prompt made of trusted markup and untrusted text the way a model's reference
    /// tokenizer sees the rendered string: special tokens are matched in the markup only, and every run
    /// of text between two special tokens is tokenized as ONE string, whichever parts of it are markup
    /// and which are values (so a query's last character and the literal after it can merge into one
    /// token, as they do for Hugging Face's tokenizer and for llama.cpp's own tokenization of the whole
    /// string). Untrusted text never yields a special token: it is not searched for them, and a marker
    /// token that llama.cpp matches even with special parsing off (USER_DEFINED, such as <c>&lt;think&gt;</c>)
    /// is broken up where it overlaps untrusted text.
    /// </summary>
    /// <param name="segments">The prompt's parts in order.</param>
    /// <param name="tokenOffsets">When given, receives each token's start as a UTF-8 byte offset into the rendered prompt.</param>
    internal int[] TokenizePrompt(IReadOnlyList<PromptSegment> segments, List<int>? tokenOffsets = null)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var text = new StringBuilder();
        var untrusted = new List<(int Start, int End)>();
        var fragments = new List<(int Start, int End, int Special)>();
        int runStart = 0;
        foreach (var seg in segments)
        {
            string part = seg.Text ?? throw new ArgumentException("a prompt segment has null text", nameof(segments));
            int at = text.Length;
            text.Append(part);
            if (!seg.IsMarkup)
            {
                if (part.Length > 0) untrusted.Add((at, at + part.Length));
                continue;
            }
            for (int i = 0; i < part.Length;)
            {
                if (MatchSpecial(part, i) is { } sp)
                {
                    if (at + i > runStart) fragments.Add((runStart, at + i, -1));
                    fragments.Add((at + i, at + i + sp.Text.Length, sp.Id));
                    i += sp.Text.Length;
                    runStart = at + i;
                }
                else
                {
                    i++;
                }
            }
        }
        if (text.Length > runStart) fragments.Add((runStart, text.Length, -1));

        string s = text.ToString();
        var tokens = new List<int>(s.Length / 3 + 8);
        int bytesBefore = 0, charsCounted = 0;
        foreach (var (start, end, special) in fragments)
        {
            bytesBefore += Encoding.UTF8.GetByteCount(s.AsSpan(charsCounted, start - charsCounted));
            charsCounted = start;
            if (special >= 0)
            {
                tokens.Add(special);
                tokenOffsets?.Add(bytesBefore);
                continue;
            }
            int first = tokens.Count;
            TokenizeRun(s, start, end, untrusted, tokens);
            if (tokenOffsets is not null)
            {
                int offset = bytesBefore;
                for (int k = first; k < tokens.Count; k++)
                {
                    tokenOffsets.Add(offset);
                    offset += PieceByteLength(tokens[k]);
                }
            }
        }
        return [.. tokens];
    }

    /// <summary>Renders prompt segments to the text they stand for.</summary>
    internal static string Render(IReadOnlyList<PromptSegment> segments) => string.Concat(segments.Select(s => s.Text));

    private (string Text, int Id)? MatchSpecial(string text, int at)
    {
        if (!_specials.TryGetValue(text[at], out var candidates)) return null;
        foreach (var c in candidates)
            if (string.CompareOrdinal(text, at, c.Text, 0, c.Text.Length) == 0) return c;
        return null;
    }

    // One run of text between special tokens, tokenized whole, except that a marker token overlapping
    // untrusted text is cut after its first character (the cut pieces are tokenized apart).
    private void TokenizeRun(string s, int start, int end, List<(int Start, int End)> untrusted, List<int> dst)
    {
        SortedSet<int>? cuts = null;
        if (_markerTexts.Length > 0)
        {
            foreach (string m in _markerTexts)
            {
                for (int at = s.IndexOf(m, start, end - start, StringComparison.Ordinal); at >= 0 && at + m.Length <= end;
                     at = at + 1 < end ? s.IndexOf(m, at + 1, end - at - 1, StringComparison.Ordinal) : -1)
                {
                    if (Overlaps(untrusted, at, at + m.Length)) (cuts ??= []).Add(at + 1);
                }
            }
        }
        int from = start;
        if (cuts is not null)
        {
            foreach (int cut in cuts)
            {
                dst.AddRange(TokenizeRaw(s[from..cut], parseSpecial: false));
                from = cut;
            }
        }
        dst.AddRange(TokenizeRaw(s[from..end], parseSpecial: false));
    }

    private static bool Overlaps(List<(int Start, int End)> ranges, int start, int end)
    {
        foreach (var r in ranges)
            if (r.Start < end && start < r.End) return true;
        return false;
    }

    /// <summary>Bytes of text the token renders to (special tokens render their text).</summary>
    internal int PieceByteLength(int token)
    {
        var cache = _pieceBytes ??= CreatePieceCache();
        int n = Volatile.Read(ref cache[token]);
        if (n >= 0) return n;
        Span<byte> buf = stackalloc byte[256];
        fixed (byte* b = buf) n = LlamaNative.llama_token_to_piece(_vocab, token, b, buf.Length, 0, true);
        n = Math.Abs(n);
        Volatile.Write(ref cache[token], n);
        return n;
    }

    private int[] CreatePieceCache()
    {
        var cache = new int[VocabSize];
        Array.Fill(cache, -1);
        return cache;
    }

    /// <summary>
    /// The longest prefix of <paramref name="text"/> that the first <paramref name="tokens"/> tokens of
    /// its plain-text tokenization cover, cut back to a whole character: how untrusted text is cut to a
    /// token budget before it is put into a prompt.
    /// </summary>
    internal string CutToTokens(string text, ReadOnlySpan<int> textTokens, int tokens)
    {
        if (tokens >= textTokens.Length) return text;
        long bytes = 0;
        for (int k = 0; k < tokens; k++) bytes += PieceByteLength(textTokens[k]);
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        int cut = (int)Math.Min(bytes, utf8.Length);
        while (cut > 0 && cut < utf8.Length && (utf8[cut] & 0xC0) == 0x80) cut--;
        return Encoding.UTF8.GetString(utf8, 0, cut);
    }

    private static bool IsMarker(string text) =>
        text.Length >= 3 && (text[0] == '<' && text[^1] == '>' || text[0] == '[' && text[^1] == ']');

    /// <summary>Frees the native weights.</summary>
    public void Dispose() => _weights.Dispose();
}
