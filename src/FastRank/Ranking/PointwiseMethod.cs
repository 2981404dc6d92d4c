using FastRank.Engine;
using FastRank.Prompts;
using Microsoft.Extensions.Logging;

namespace FastRank.Ranking;

/// <summary>
/// Pointwise yes/no reranking (Qwen3-Reranker style): one prompt per document, score P(yes) read at the last
/// position, from the model's yes/no rank head when it has one (<see cref="Ranking.RankHead"/>, as llama.cpp's RANK
/// pooling does) or from the LM head's logits of the single tokens "yes" and "no" (<see cref="ScoreHead"/>). The prompt splits into a head (system
/// text, instruction: the same for every query, kept in the prefix cache across calls), a query part
/// (the same for every document of the call) and a per-document suffix (document text and the chat
/// suffix), decoded in parallel sequences on top of the shared prefix.
/// </summary>
internal sealed class PointwiseMethod : IRankingMethod
{
    private static readonly string[] Placeholders = ["instruction", "query", "document"];
    private static readonly string[] Required = ["query", "document"];

    private readonly LlamaModel _model;
    private readonly PromptTemplate _template;
    private readonly string _instruction;
    private readonly int[] _head;
    private readonly int _tailTokens;
    private readonly ILogger _logger;
    private readonly RerankerOptions _options;
    private readonly RankHead? _rankHead;
    private readonly RankHead? _lmRows;

    public PointwiseMethod(LlamaModel model, RerankerOptions options, ILogger logger)
    {
        _model = model;
        _options = options;
        _logger = logger;
        YesToken = model.FindSingleToken("yes")
            ?? throw new ModelNotSupportedException($"'{Path.GetFileName(model.Path)}' has no single token for \"yes\": pointwise scoring needs one");
        NoToken = model.FindSingleToken("no")
            ?? throw new ModelNotSupportedException($"'{Path.GetFileName(model.Path)}' has no single token for \"no\": pointwise scoring needs one");
        _rankHead = options.ScoreHead switch
        {
            ScoreHead.Lm => null,
            ScoreHead.Rank => RankHead.Load(model),
            _ => RankHead.Unsupported(model.Header) is null ? RankHead.Load(model) : null,
        };
        if (_rankHead is { } h)
        {
            _logger.LogInformation("Pointwise scores from the rank head {Tensor} ({Type}, {Kernel})", RankHead.TensorName, h.StorageType, h.Kernel);
        }
        else
        {
            // Only two of the LM head's logits are read: multiply its "yes" and "no" rows alone, not the whole vocabulary
            // (151,936 rows for Qwen3, several layers' worth of work per document on a small model).
            _lmRows = RankHead.LoadLmRows(model, YesToken, NoToken, out string? why);
            if (_lmRows is { } l)
                _logger.LogInformation("Pointwise scores from the LM head's \"yes\" and \"no\" rows ({Type}, {Kernel})", l.StorageType, l.Kernel);
            else
                _logger.LogInformation("Pointwise scores from the LM head's \"yes\" and \"no\" logits (the whole head: {Why})", why);
        }

        (_template, TemplateSource) = ChooseTemplate(model, options);
        _instruction = options.Instruction ?? ChatTemplates.DefaultInstruction;
        CheckOrder(_template);
        int documentIndex = _template.IndexOf("document");

        _head = Tokenize(Segments(null, null));
        var afterDocument = new List<PromptSegment>();
        for (int i = documentIndex + 1; i < _template.Parts.Count; i++) afterDocument.Add(PromptSegment.Markup(_template.Parts[i].Text));
        _tailTokens = model.TokenizePrompt(afterDocument).Length;
        if (_tailTokens == 0) throw new ArgumentException("the pointwise template needs text after {document} (the answer is read at the last prompt token)");
        OverheadTokens = Tokenize(Segments("", "")).Length;
    }

    /// <summary>
    /// The prompt's parts up to the query (<paramref name="query"/> null), up to the document
    /// (<paramref name="document"/> null) or whole: template text as markup, the instruction, query and
    /// document as untrusted text.
    /// </summary>
    private List<PromptSegment> Segments(string? query, string? document)
    {
        var segments = new List<PromptSegment>(_template.Parts.Count);
        foreach (var part in _template.Parts)
        {
            if (!part.IsPlaceholder)
            {
                segments.Add(PromptSegment.Markup(part.Text));
                continue;
            }
            string? value = part.Text switch
            {
                "instruction" => _instruction,
                "query" => query,
                _ => document,
            };
            if (value is null) break;
            segments.Add(PromptSegment.Plain(value));
        }
        return segments;
    }

    /// <summary>A prompt's tokens: BOS when the model adds one, then the parts tokenized as the reference tokenizer sees the rendered text.</summary>
    private int[] Tokenize(List<PromptSegment> segments)
    {
        int[] tokens = _model.TokenizePrompt(segments);
        return _model.AddBos ? [_model.Bos, .. tokens] : tokens;
    }

    public RerankMethod Kind => RerankMethod.Pointwise;

    public int YesToken { get; }

    public int NoToken { get; }

    /// <summary>The rank head scores come from, or null when they come from the LM head.</summary>
    internal RankHead? RankHead => _rankHead;

    /// <summary>The LM head's "yes" and "no" rows, when scores come from the LM head and it can be applied row by row (else null: whole logits).</summary>
    internal RankHead? LmRows => _lmRows;

    /// <summary>Whether scores come from final hidden states (a context for this method needs <see cref="Engine.ContextConfig.HiddenStates"/>).</summary>
    internal bool ReadsHiddenStates => _rankHead is not null || _lmRows is not null;

    /// <summary>The head scores come from, for logs and reports.</summary>
    internal string HeadName =>
        _rankHead is { } h ? $"rank head {Ranking.RankHead.TensorName} ({h.StorageType}, {h.Kernel})"
        : _lmRows is { } l ? $"LM head's yes/no rows ({l.StorageType}, {l.Kernel})"
        : "LM head (yes/no logits)";

    /// <summary>The yes-minus-no logit difference of a prompt's last token: RawScore, from the head in use.</summary>
    internal double RawScore(DecodedOutput output)
    {
        if ((_rankHead ?? _lmRows) is { } head) return head.LogitDifference(output.HiddenState);
        var logits = output.Logits;
        return (double)logits[YesToken] - logits[NoToken];
    }

    /// <summary>Where the template came from: "user", "gguf:rerank" or "builtin:qwen3-reranker".</summary>
    public string TemplateSource { get; }

    /// <summary>Template tokens around the query and document (for sizing the context).</summary>
    public int OverheadTokens { get; }

    private static void CheckOrder(PromptTemplate template)
    {
        int documentIndex = template.IndexOf("document");
        if (documentIndex < template.IndexOf("query"))
            throw new ArgumentException("the pointwise template must place {query} before {document} (the query is the shared prefix)");
        if (template.IndexOf("instruction") > documentIndex)
            throw new ArgumentException("the pointwise template must place {instruction} before {document}");
    }

    private static (PromptTemplate, string) ChooseTemplate(LlamaModel model, RerankerOptions options)
    {
        if (options.PromptTemplate is { } user)
            return (PromptTemplate.Parse(user, Placeholders, Required), "user");
        if (options.Instruction is null && model.ChatTemplate("rerank") is { } gguf)
        {
            try
            {
                // A file's template is input like any other: one this method cannot use falls back, never throws.
                var parsed = PromptTemplate.Parse(gguf, Placeholders, Required);
                CheckOrder(parsed);
                if (!parsed.Parts.Skip(parsed.IndexOf("document") + 1).Any(p => !string.IsNullOrWhiteSpace(p.Text)))
                    throw new ArgumentException("no text after {document}");
                return (parsed, "gguf:rerank");
            }
            catch (ArgumentException)
            {
                // A GGUF rerank template without the placeholders we need: fall back to the built-in layout.
            }
        }
        return (PromptTemplate.Parse(ChatTemplates.Qwen3RerankerPrompt, Placeholders, Required), "builtin:qwen3-reranker");
    }

    public ContextConfig ContextConfig(RerankerOptions options)
    {
        int cells = RankingMethods.CellsFor(MaxPromptTokens(options));
        int work = options.ParallelSequences;
        if (work == 0)
        {
            long perSeq = cells * _model.KvBytesPerCell;
            work = (int)Math.Clamp(options.KvCacheBudgetBytes / Math.Max(1, perSeq) - RankingEngine.DefaultPrefixSlots, 1, DefaultParallelSequences);
        }
        // Every llama_decode call is one planned micro-batch (SequenceBatcher), so n_batch = n_ubatch.
        return new ContextConfig(RankingEngine.DefaultPrefixSlots + work, cells, options.MicroBatchSize, options.MicroBatchSize,
            options.FlashAttention, RankingMethods.Threads(options))
        {
            HiddenStates = ReadsHiddenStates,
            ExactShortRuns = options.ExactShortRunAttention,
        };
    }

    /// <summary>Default ceiling of parallel sequences.</summary>
    internal const int DefaultParallelSequences = 16;

    public MethodResult Rank(RankingEngine engine, string query, IReadOnlyList<string> documents, CancellationToken ct)
    {
        var call = Start(query, documents);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        while (engine.DecodeWave([call.Group], ct))
        {
        }
        return Finish(call, System.Diagnostics.Stopwatch.GetTimestamp() - start);
    }

    /// <summary>A call in progress: its prompt, its share of the decode waves, the scores read so far.</summary>
    internal sealed record Call(Prompt Prompt, SuffixGroup Group, RankedDocument[] Ranked, long TokenizeTicks);

    /// <summary>
    /// Tokenizes a call and prepares its group for <see cref="RankingEngine.DecodeWave"/>, alone (<see cref="Rank"/>)
    /// or with the groups of other calls (the reranker's scheduler): the head + query prefix comes from the
    /// prefix cache (two levels: the head, the same for every query, and head + query, the same for every
    /// document), each document decodes in its own KV stream on top of it.
    /// </summary>
    internal Call Start(string query, IReadOnlyList<string> documents)
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        var prompt = BuildPrompt(query, documents, _options);
        var ranked = new RankedDocument[documents.Count];
        var group = new SuffixGroup(prompt.Prefix, prompt.Suffixes, prompt.Prefix[..SharedHead(prompt.Prefix)], (item, output) =>
        {
            double raw = RawScore(output);
            ranked[item] = new RankedDocument(item, 1.0 / (1.0 + Math.Exp(-raw)), raw);
        });
        return new Call(prompt, group, ranked, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
    }

    /// <summary>The result of a finished call whose waves took <paramref name="decodeTicks"/> (prefixes included).</summary>
    internal static MethodResult Finish(Call call, long decodeTicks)
    {
        var (prompt, group, ranked, _) = call;
        long promptTokens = 0;
        foreach (var s in prompt.Suffixes) promptTokens += prompt.Prefix.Length + s.Length;
        var usage = new RerankUsage
        {
            PromptTokens = promptTokens,
            // Prefix tokens computed for this call (the head too, when it was not cached yet) are not cached ones.
            CachedTokens = ranked.Length == 0 ? 0 : Math.Max(0, (long)prompt.Prefix.Length * ranked.Length - group.DecodedPrefixTokens),
            TruncatedDocuments = prompt.TruncatedDocuments,
            TruncatedQuery = prompt.TruncatedQuery,
            DecodeCalls = group.DecodeCalls,
        };
        var timings = new RerankTimings
        {
            TokenizeMs = RankingMethods.Ms(call.TokenizeTicks),
            PrefixMs = RankingMethods.Ms(group.PrefixTicks),
            ScoreMs = RankingMethods.Ms(Math.Max(0, decodeTicks - group.PrefixTicks)),
        };
        // The raw logit difference orders without the saturation of P(yes) near 0 and 1.
        RankingMethods.SortByScore(ranked, byRawScore: true);
        return new MethodResult(ranked, usage, timings);
    }

    /// <summary>The tokens of a call: the prefix shared by every document and each document's suffix.</summary>
    internal sealed record Prompt(int[] Prefix, int[][] Suffixes, int TruncatedDocuments, bool TruncatedQuery);

    /// <summary>
    /// Tokenizes a call. Each document's prompt is the template rendered with the instruction, query and
    /// document and tokenized as its model's reference does (Qwen3-Reranker's recipe: the text between two
    /// special tokens as one string, so a query's last character and the literal after it can form one
    /// token), except that no special token can come from the untrusted parts. Query and documents longer
    /// than their budgets are cut (as text, at a token boundary) before rendering. The shared prefix is the
    /// longest beginning every document's prompt has in common with the prompt up to the document.
    /// </summary>
    internal Prompt BuildPrompt(string query, IReadOnlyList<string> documents, RerankerOptions options)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(documents);
        bool queryTruncated = Cut(ref query, options.MaxQueryTokens);
        if (queryTruncated) _logger.LogWarning("Query truncated to {Budget} tokens", options.MaxQueryTokens);
        int[] upToDocument = Tokenize(Segments(query, null));

        var prompts = new int[documents.Count][];
        int shared = upToDocument.Length;
        int truncated = 0;
        for (int i = 0; i < documents.Count; i++)
        {
            string doc = documents[i] ?? throw new ArgumentException($"document {i} is null", nameof(documents));
            if (Cut(ref doc, options.MaxDocumentTokens)) truncated++;
            int[] full = Tokenize(Segments(query, doc));
            prompts[i] = full;
            shared = Math.Min(shared, upToDocument.AsSpan().CommonPrefixLength(full));
        }
        // The last token before the document may merge with the document's first character in some
        // vocabularies: every document then decodes it in its own suffix.
        shared = Math.Min(shared, upToDocument.Length);
        foreach (int[] p in prompts) shared = Math.Min(shared, p.Length - 1);
        int[] prefix = upToDocument[..Math.Max(0, shared)];
        var suffixes = new int[documents.Count][];
        for (int i = 0; i < prompts.Length; i++) suffixes[i] = prompts[i][prefix.Length..];
        if (truncated > 0)
            _logger.LogWarning("{Count} of {Total} documents exceeded {Budget} tokens and were truncated", truncated, documents.Count, options.MaxDocumentTokens);
        return new Prompt(prefix, suffixes, truncated, queryTruncated);
    }

    /// <summary>Cuts <paramref name="text"/> to <paramref name="budget"/> tokens of its own tokenization; true when it was longer.</summary>
    private bool Cut(ref string text, int budget)
    {
        int[] tokens = _model.TokenizeTextBounded(text, budget);
        if (tokens.Length <= budget) return false;
        text = _model.CutToTokens(text, tokens, budget);
        return true;
    }

    /// <summary>Tokens after the document (the chat suffix), tokenized alone.</summary>
    internal int TailTokens => _tailTokens;

    /// <summary>How much of a call's prefix is the head (the part kept in the prefix cache across queries).</summary>
    internal int SharedHead(ReadOnlySpan<int> prefix) => _head.AsSpan().CommonPrefixLength(prefix);

    /// <summary>Head tokens (the cross-query part of the prefix).</summary>
    internal int HeadLength => _head.Length;

    /// <summary>Tokens of the longest prompt a sequence must hold under <paramref name="options"/>.</summary>
    public int MaxPromptTokens(RerankerOptions options) => OverheadTokens + options.MaxQueryTokens + options.MaxDocumentTokens + 4;
}
