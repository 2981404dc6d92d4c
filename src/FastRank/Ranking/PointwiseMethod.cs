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
    private readonly Dictionary<string, string> _values;
    private readonly int _queryIndex;
    private readonly int _documentIndex;
    private readonly int[] _head;
    private readonly int[] _betweenQueryAndDocument;
    private readonly int[] _tail;
    private readonly ILogger _logger;
    private readonly RerankerOptions _options;
    private readonly RankHead? _rankHead;

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
            _logger.LogInformation("Pointwise scores from the rank head {Tensor} ({Type}, {Kernel})", RankHead.TensorName, h.StorageType, h.Kernel);
        else
            _logger.LogInformation("Pointwise scores from the LM head's \"yes\" and \"no\" logits");

        (_template, TemplateSource) = ChooseTemplate(model, options);
        _values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["instruction"] = options.Instruction ?? ChatTemplates.DefaultInstruction,
        };
        _queryIndex = _template.IndexOf("query");
        _documentIndex = _template.IndexOf("document");
        if (_documentIndex < _queryIndex)
            throw new ArgumentException("the pointwise template must place {query} before {document} (the query is the shared prefix)");
        int instructionIndex = _template.IndexOf("instruction");
        if (instructionIndex > _documentIndex)
            throw new ArgumentException("the pointwise template must place {instruction} before {document}");

        var head = new List<int>();
        if (model.AddBos) head.Add(model.Bos);
        PromptTokens.Append(model, _template, 0, _queryIndex, _values, head);
        _head = [.. head];
        var between = new List<int>();
        PromptTokens.Append(model, _template, _queryIndex + 1, _documentIndex, _values, between);
        _betweenQueryAndDocument = [.. between];
        var tail = new List<int>();
        PromptTokens.Append(model, _template, _documentIndex + 1, _template.Parts.Count, _values, tail);
        _tail = [.. tail];
        if (_tail.Length == 0) throw new ArgumentException("the pointwise template needs text after {document} (the answer is read at the last prompt token)");
    }

    public RerankMethod Kind => RerankMethod.Pointwise;

    public int YesToken { get; }

    public int NoToken { get; }

    /// <summary>The rank head scores come from, or null when they come from the LM head.</summary>
    internal RankHead? RankHead => _rankHead;

    /// <summary>The yes-minus-no logit difference of a prompt's last token: RawScore, from the head in use.</summary>
    internal double RawScore(DecodedOutput output)
    {
        if (_rankHead is { } head) return head.LogitDifference(output.HiddenState);
        var logits = output.Logits;
        return (double)logits[YesToken] - logits[NoToken];
    }

    /// <summary>Where the template came from: "user", "gguf:rerank" or "builtin:qwen3-reranker".</summary>
    public string TemplateSource { get; }

    /// <summary>Template tokens around the query and document (for sizing the context).</summary>
    public int OverheadTokens => _head.Length + _betweenQueryAndDocument.Length + _tail.Length;

    private static (PromptTemplate, string) ChooseTemplate(LlamaModel model, RerankerOptions options)
    {
        if (options.PromptTemplate is { } user)
            return (PromptTemplate.Parse(user, Placeholders, Required), "user");
        if (options.Instruction is null && model.ChatTemplate("rerank") is { } gguf)
        {
            try
            {
                return (PromptTemplate.Parse(gguf, Placeholders, Required), "gguf:rerank");
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
            options.FlashAttention, RankingMethods.Threads(options)) { HiddenStates = _rankHead is not null };
    }

    /// <summary>Default ceiling of parallel sequences.</summary>
    internal const int DefaultParallelSequences = 16;

    public MethodResult Rank(RankingEngine engine, string query, IReadOnlyList<string> documents, CancellationToken ct)
    {
        var options = _options;
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        long calls0 = engine.Context.DecodeCalls;

        var prompt = BuildPrompt(query, documents, options);
        int[] prefix = prompt.Prefix;
        int[][] suffixes = prompt.Suffixes;
        int truncated = prompt.TruncatedDocuments;
        bool queryTruncated = prompt.TruncatedQuery;
        long t1 = System.Diagnostics.Stopwatch.GetTimestamp();

        var ranked = new RankedDocument[documents.Count];
        long prefixTicks = 0;
        long decodedBefore = engine.Prefixes.DecodedTokens;
        if (documents.Count > 0)
        {
            // Two levels: the head (the same for every query) and head + query (the same for every document).
            // A head shorter than a micro-batch run is not worth an entry of its own (SequenceBatcher).
            if (_head.Length >= engine.Context.Config.MinimumRun) engine.Prefixes.Acquire(_head, ct, out _, out _);
            int prefixSeq = engine.Prefixes.Acquire(prefix, ct, out _, out long generation);
            prefixTicks = System.Diagnostics.Stopwatch.GetTimestamp() - t1;
            engine.DecodeSuffixes(prefixSeq, generation, prefix.Length, suffixes, (item, output) =>
            {
                double raw = RawScore(output);
                ranked[item] = new RankedDocument(item, 1.0 / (1.0 + Math.Exp(-raw)), raw);
            }, ct);
        }
        long t2 = System.Diagnostics.Stopwatch.GetTimestamp();

        long promptTokens = 0;
        foreach (var s in suffixes) promptTokens += prefix.Length + s.Length;
        // Prefix tokens computed by this call (the head too, when it was not cached yet).
        long decodedPrefix = engine.Prefixes.DecodedTokens - decodedBefore;
        var usage = new RerankUsage
        {
            PromptTokens = promptTokens,
            CachedTokens = documents.Count == 0 ? 0 : Math.Max(0, (long)prefix.Length * documents.Count - decodedPrefix),
            TruncatedDocuments = truncated,
            TruncatedQuery = queryTruncated,
            DecodeCalls = (int)(engine.Context.DecodeCalls - calls0),
        };
        var timings = new RerankTimings
        {
            TokenizeMs = RankingMethods.Ms(t1 - t0),
            PrefixMs = RankingMethods.Ms(prefixTicks),
            ScoreMs = RankingMethods.Ms(t2 - t1 - prefixTicks),
        };
        // The raw logit difference orders without the saturation of P(yes) near 0 and 1.
        RankingMethods.SortByScore(ranked, byRawScore: true);
        return new MethodResult(ranked, usage, timings);
    }

    /// <summary>The tokens of a call: the prefix shared by every document and each document's suffix.</summary>
    internal sealed record Prompt(int[] Prefix, int[][] Suffixes, int TruncatedDocuments, bool TruncatedQuery);

    /// <summary>Tokenizes a call: query and documents as untrusted text, cut to their budgets.</summary>
    internal Prompt BuildPrompt(string query, IReadOnlyList<string> documents, RerankerOptions options)
    {
        // Query part: the query text and the template text up to the document.
        int[] queryTokens = _model.TokenizeTextBounded(PromptTokens.LeadingSpace(_template, _queryIndex) + query, options.MaxQueryTokens);
        bool queryTruncated = queryTokens.Length > options.MaxQueryTokens;
        if (queryTruncated)
        {
            _logger.LogWarning("Query of {Tokens} tokens truncated to {Budget} tokens", queryTokens.Length, options.MaxQueryTokens);
            queryTokens = queryTokens[..options.MaxQueryTokens];
        }
        int[] prefix = [.. _head, .. queryTokens, .. _betweenQueryAndDocument];

        string space = PromptTokens.LeadingSpace(_template, _documentIndex);
        var suffixes = new int[documents.Count][];
        int truncated = 0;
        for (int i = 0; i < documents.Count; i++)
        {
            string doc = documents[i] ?? throw new ArgumentException($"document {i} is null", nameof(documents));
            int[] docTokens = _model.TokenizeTextBounded(space + doc, options.MaxDocumentTokens);
            if (docTokens.Length > options.MaxDocumentTokens)
            {
                truncated++;
                docTokens = docTokens[..options.MaxDocumentTokens];
            }
            suffixes[i] = [.. docTokens, .. _tail];
        }
        if (truncated > 0)
            _logger.LogWarning("{Count} of {Total} documents exceeded {Budget} tokens and were truncated", truncated, documents.Count, options.MaxDocumentTokens);
        return new Prompt(prefix, suffixes, truncated, queryTruncated);
    }

    /// <summary>Tokens after the document (the chat suffix).</summary>
    internal int TailTokens => _tail.Length;

    /// <summary>Head tokens (the cross-query part of the prefix).</summary>
    internal int HeadLength => _head.Length;

    /// <summary>Tokens of the longest prompt a sequence must hold under <paramref name="options"/>.</summary>
    public int MaxPromptTokens(RerankerOptions options) => OverheadTokens + options.MaxQueryTokens + options.MaxDocumentTokens + 2;
}
