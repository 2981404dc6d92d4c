namespace FastRank.Ranking;

/// <summary>How ICR turns the attention of the real query into a score.</summary>
public enum IcrCalibration
{
    /// <summary>
    /// The default of the ICR paper: the attention of a content-free query (<c>N/A</c>) is subtracted token
    /// by token, and tokens whose difference falls below mean - 2 std of their document are left out.
    /// </summary>
    Masked,

    /// <summary>The content-free query's attention is subtracted, every token kept.</summary>
    Unmasked,

    /// <summary>The real query's attention alone (one query pass; cheaper, biased toward positions near the query).</summary>
    None,
}

/// <summary>The chat layout the ICR prompt is wrapped in.</summary>
public enum IcrPromptLayout
{
    /// <summary>From the model's chat template: Mistral <c>[INST]</c>, Llama 3 headers, ChatML; plain text otherwise.</summary>
    Auto,

    /// <summary><c>[INST] ... [/INST]</c>, separator <c>\n\n</c> (the paper's Mistral prompt).</summary>
    Mistral,

    /// <summary>Llama 3 user/assistant headers, separator <c> \n\n</c> (the paper's Llama 3.1 prompt).</summary>
    Llama3,

    /// <summary><c>&lt;|im_start|&gt;user ... &lt;|im_end|&gt;</c> (Qwen and other ChatML models).</summary>
    ChatML,

    /// <summary>No chat markup.</summary>
    Plain,
}

/// <summary>
/// Options of in-context reranking (<see cref="RerankMethod.Icr"/>): one prompt holds the documents,
/// labelled <c>[1]</c>, <c>[2]</c>, ..., then a late instruction and the query; a document's score is the
/// attention the query's tokens pay to its tokens, summed over every layer and head.
/// <para>
/// Long lists: when the documents (each cut to <see cref="MaxDocumentTokens"/>) do not fit one prompt of
/// the context (<see cref="MaxContextTokens"/>, capped by the model's training context and the reranker's
/// KV budget), or exceed <see cref="MaxDocumentsPerChunk"/>, they are split into the fewest chunks that
/// fit, dealt round-robin in input order (document i goes to chunk i mod k), so every chunk holds a
/// similar number of documents and a similar mix of first-stage ranks. Each chunk is a complete ICR prompt
/// with the query, scored on its own; the documents of all chunks are then sorted by score together.
/// Scores of different chunks are comparable because the chunks are balanced, not because they share a
/// prompt: prefer one prompt (a larger context) where memory and time allow.
/// </para>
/// </summary>
public sealed record IcrOptions
{
    /// <summary>The paper's late instruction for retrieval-style queries (the default).</summary>
    public const string RetrievalInstruction = "Please find information that are relevant to the following query in the paragraphs above.";

    /// <summary>The paper's late instruction for question-answering data (questions as queries).</summary>
    public const string QuestionAnsweringInstruction = "Please answer the following question based on the information in the paragraphs above.";

    /// <summary>Scoring strategy; <see cref="IcrCalibration.Masked"/> by default.</summary>
    public IcrCalibration Calibration { get; init; } = IcrCalibration.Masked;

    /// <summary>
    /// Places the documents in reverse input order, so the first input document (the first stage's best
    /// candidate) sits last, nearest the query (the paper's setting). The input is assumed to be in
    /// first-stage order, best first. Labels <c>[i]</c> number the documents in prompt order.
    /// </summary>
    public bool ReverseOrder { get; init; } = true;

    /// <summary>The instruction between the documents and the query (plain text).</summary>
    public string LateInstruction { get; init; } = RetrievalInstruction;

    /// <summary>The text that introduces the documents (plain text).</summary>
    public string Preamble { get; init; } = "Here are some paragraphs:";

    /// <summary>The content-free query of the calibration pass.</summary>
    public string CalibrationQuery { get; init; } = "N/A";

    /// <summary>The chat layout; <see cref="IcrPromptLayout.Auto"/> reads it from the model's template.</summary>
    public IcrPromptLayout Layout { get; init; } = IcrPromptLayout.Auto;

    /// <summary>
    /// Per-document token budget of ICR prompts (the document text, without its label); longer documents are
    /// cut, counted in <see cref="RerankUsage.TruncatedDocuments"/> and logged. Null: <see cref="RerankerOptions.MaxDocumentTokens"/>.
    /// </summary>
    public int? MaxDocumentTokens { get; init; }

    /// <summary>
    /// Longest ICR prompt in tokens (the KV cells of each sequence). The context gets the smallest multiple of
    /// 256 at least this large, capped by the model's training context and by <see cref="RerankerOptions.KvCacheBudgetBytes"/>
    /// (ICR's context holds four KV streams). Longer lists are chunked.
    /// </summary>
    public int MaxContextTokens { get; init; } = 8192;

    /// <summary>Most documents in one prompt (0: as many as fit). Smaller chunks cost less attention time per document but compare documents across prompts.</summary>
    public int MaxDocumentsPerChunk { get; init; }

    /// <summary>
    /// Decodes the real and the content-free query as two sequences of one batch on top of one shared copy
    /// of the documents (the default). False decodes them one after the other in one sequence: no KV copy, a
    /// little slower.
    /// </summary>
    public bool SharedCalibrationBatch { get; init; } = true;

    internal void Validate()
    {
        if (MaxDocumentTokens is < 1) throw new ArgumentOutOfRangeException(nameof(MaxDocumentTokens), "must be at least 1");
        if (MaxContextTokens < 256) throw new ArgumentOutOfRangeException(nameof(MaxContextTokens), "must be at least 256");
        if (MaxDocumentsPerChunk < 0) throw new ArgumentOutOfRangeException(nameof(MaxDocumentsPerChunk), "must not be negative");
        if (!Enum.IsDefined(Calibration)) throw new ArgumentOutOfRangeException(nameof(Calibration));
        if (!Enum.IsDefined(Layout)) throw new ArgumentOutOfRangeException(nameof(Layout));
        ArgumentNullException.ThrowIfNull(LateInstruction);
        ArgumentNullException.ThrowIfNull(Preamble);
        ArgumentNullException.ThrowIfNull(CalibrationQuery);
    }
}
