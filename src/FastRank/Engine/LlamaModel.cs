using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using FastRank.Gguf;
using FastRank.Interop;
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

    private LlamaModel(string path, GgufFile header, LLamaWeights weights)
    {
        Path = path;
        Header = header;
        _weights = weights;
        _vocab = LlamaNative.llama_model_get_vocab(weights.NativeHandle.DangerousGetHandle());
        VocabSize = LlamaNative.llama_vocab_n_tokens(_vocab);
        _attrs = new LlamaTokenAttr[VocabSize];
        var markers = new List<string>();
        for (int t = 0; t < VocabSize; t++)
        {
            _attrs[t] = (LlamaTokenAttr)LlamaNative.llama_vocab_get_attr(_vocab, t);
            if ((_attrs[t] & LlamaTokenAttr.UserDefined) != 0)
            {
                string text = TokenText(t);
                if (IsMarker(text)) markers.Add(text);
            }
        }
        _markerTexts = [.. markers];
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
    /// <exception cref="GgufFormatException">The file is not a valid GGUF file; llama.cpp never sees it.</exception>
    /// <exception cref="ModelLoadException">llama.cpp refused the model.</exception>
    public static LlamaModel Load(string path, ModelLoadOptions? options = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new ModelLoadOptions();
        if (!File.Exists(path)) throw new FileNotFoundException($"model file '{path}' does not exist", path);
        var header = GgufReader.Read(path);
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
            var model = new LlamaModel(path, header, weights);
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
    public long KvBytesPerCell => (long)LayerCount * KvHeadCount * (HeadDim + ValueHeadDim) * 2;

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
        var cuts = new SortedSet<int>();
        foreach (string m in _markerTexts)
        {
            for (int at = text.IndexOf(m, StringComparison.Ordinal); at >= 0; at = text.IndexOf(m, at + 1, StringComparison.Ordinal))
                cuts.Add(at + 1);
        }
        if (cuts.Count == 0) return TokenizeRaw(text, parseSpecial: false);
        var result = new List<int>(text.Length / 3 + 4);
        int start = 0;
        foreach (int cut in cuts)
        {
            result.AddRange(TokenizeRaw(text[start..cut], parseSpecial: false));
            start = cut;
        }
        result.AddRange(TokenizeRaw(text[start..], parseSpecial: false));
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

    private static bool IsMarker(string text) =>
        text.Length >= 3 && (text[0] == '<' && text[^1] == '>' || text[0] == '[' && text[^1] == ']');

    /// <summary>Frees the native weights.</summary>
    public void Dispose() => _weights.Dispose();
}
