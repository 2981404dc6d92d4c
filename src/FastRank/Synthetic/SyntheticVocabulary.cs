using System.Reflection;

namespace FastRank.Synthetic;

/// <summary>llama.cpp token types (tokenizer.ggml.token_type).</summary>
internal enum TokenType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// A SentencePiece-style vocabulary whose word pieces come from a byte-pair merge list trained on
/// English word frequencies (vocab-pieces.txt, rank order; src/FastRank/Synthetic/train_vocab.py), so ordinary
/// English tokenizes into word-level pieces while anything else falls back to characters and bytes.
/// llama.cpp's SPM tokenizer merges the adjacent pair whose union scores highest; scoring pieces by
/// merge rank reproduces the byte-pair order, and any prefix of the merge list is a consistent
/// vocabulary. The vocabulary also carries the control tokens the prompt templates use, USER_DEFINED
/// <c>&lt;think&gt;</c> tokens as in real Qwen3 GGUFs, single-token yes/no, letters and the numbers 0-100.
/// </summary>
internal sealed class SyntheticVocabulary : IModelVocabulary
{
    public const string SpaceMarker = "\u2581";

    /// <summary>Control tokens (type CONTROL): never produced from user text.</summary>
    public static readonly string[] ControlTokens =
    [
        "<|im_start|>", "<|im_end|>", "<|endoftext|>",
        "[INST]", "[/INST]",
        "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
    ];

    /// <summary>Added tokens that real Qwen3 GGUFs mark USER_DEFINED (llama.cpp matches those even with special parsing off).</summary>
    public static readonly string[] UserDefinedTokens = ["<think>", "</think>"];

    private readonly List<string> _tokens = [];
    private readonly List<float> _scores = [];
    private readonly List<int> _types = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Tokens => _tokens;
    public IReadOnlyList<float> Scores => _scores;
    public IReadOnlyList<int> Types => _types;
    public int Count => _tokens.Count;
    public int UnknownId => 0;
    public int BosId => 1;
    public int EosId => 2;
    public int Id(string piece) => _index[piece];
    public int? Find(string piece) => _index.TryGetValue(piece, out int id) ? id : null;

    /// <summary>SentencePiece metadata: scores, byte tokens, the EOS of the shape's chat template.</summary>
    public void WriteTo(Gguf.GgufWriter w, ModelShape s)
    {
        w.Add("tokenizer.ggml.model", "llama");
        w.Add("tokenizer.ggml.tokens", _tokens.ToArray());
        w.Add("tokenizer.ggml.scores", _scores.ToArray());
        w.Add("tokenizer.ggml.token_type", _types.ToArray());
        w.Add("tokenizer.ggml.bos_token_id", (uint)BosId);
        string eos = s.ChatTemplate == Prompts.ChatTemplates.Llama3Jinja ? "<|eot_id|>"
            : s.ChatTemplate == Prompts.ChatTemplates.MistralJinja ? "</s>" : "<|im_end|>";
        w.Add("tokenizer.ggml.eos_token_id", (uint)Id(eos));
        w.Add("tokenizer.ggml.unknown_token_id", (uint)UnknownId);
        w.Add("tokenizer.ggml.padding_token_id", (uint)UnknownId);
        w.Add("tokenizer.ggml.add_bos_token", s.AddBos);
        w.Add("tokenizer.ggml.add_eos_token", false);
        w.Add("tokenizer.ggml.add_space_prefix", false);
        w.Add("tokenizer.chat_template", s.ChatTemplate);
    }

    private IReadOnlySet<string>? _excluded;

    private bool Add(string piece, TokenType type)
    {
        if (_index.ContainsKey(piece) || (_excluded?.Contains(piece) ?? false)) return false;
        _index[piece] = _tokens.Count;
        _tokens.Add(piece);
        // SentencePiece convention: earlier (more frequent) pieces score higher. Special tokens score 0.
        _scores.Add(type == TokenType.Normal ? -_tokens.Count : 0f);
        _types.Add((int)type);
        return true;
    }

    /// <summary>Builds a vocabulary of exactly <paramref name="size"/> tokens (padded with unused tokens when the word list runs out).</summary>
    public static SyntheticVocabulary Build(int size, IReadOnlySet<string>? excluded = null)
    {
        var v = new SyntheticVocabulary { _excluded = excluded };
        v.Add("<unk>", TokenType.Unknown);
        v.Add("<s>", TokenType.Control);
        v.Add("</s>", TokenType.Control);
        foreach (string t in ControlTokens) v.Add(t, TokenType.Control);
        foreach (string t in UserDefinedTokens) v.Add(t, TokenType.UserDefined);
        for (int b = 0; b < 256; b++) v.Add($"<0x{b:X2}>", TokenType.Byte);
        v.Add(SpaceMarker, TokenType.Normal);
        v.Add("\n", TokenType.Normal);
        v.Add("\n\n", TokenType.Normal);
        v.Add("\t", TokenType.Normal);
        for (char c = '!'; c <= '~'; c++) v.Add(c.ToString(), TokenType.Normal);
        if (v.Count > size) throw new ArgumentOutOfRangeException(nameof(size), $"a vocabulary needs at least {v.Count} tokens");

        // Pieces every template relies on being single tokens (answers, identifiers, numbers), ahead of
        // the merge list: their prefix chains make them reachable whatever the vocabulary size. They score
        // below every merge-list piece, so they never take priority inside longer words ("volcano" must
        // not split around "no"); SPM still merges them once nothing better applies.
        float last = -(size + 1f);
        foreach (string w in (string[])["yes", "no", "Yes", "No"]) v.AddChain(w, size, score: last);
        for (int n = 10; n <= 100; n++) v.AddChain(n.ToString(System.Globalization.CultureInfo.InvariantCulture), size, score: last);

        foreach (string piece in LoadPieces())
        {
            if (v.Count >= size) break;
            v.Add(piece, TokenType.Normal);
        }
        for (int i = 0; v.Count < size; i++) v.Add($"<|reserved_{i}|>", TokenType.Unused);
        return v;
    }

    private void AddChain(string piece, int size, float score)
    {
        for (int len = 2; len <= piece.Length && Count < size; len++)
            if (Add(piece[..len], TokenType.Normal)) _scores[^1] = score;
    }

    private static IEnumerable<string> LoadPieces() => ReadResourceLines("FastRank.Synthetic.vocab-pieces.txt");

    /// <summary>The embedded English word list, most frequent first (for synthetic documents).</summary>
    public static IReadOnlyList<string> EnglishWords => LazyWords.Value;

    private static readonly Lazy<string[]> LazyWords = new(() => ReadResourceLines("FastRank.Synthetic.english-words.txt").ToArray());

    private static IEnumerable<string> ReadResourceLines(string name)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing");
        using var r = new StreamReader(s);
        while (r.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            yield return line;
        }
    }
}
