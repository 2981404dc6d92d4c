namespace FastRank.Ranking;

/// <summary>
/// Where pointwise scores come from (<see cref="RerankerOptions.ScoreHead"/>).
/// </summary>
/// <remarks>
/// A converted Qwen3-Reranker GGUF carries two heads that read the same final hidden state: the language-model
/// head <c>output.weight</c> (one row per token of the vocabulary) and the rank head <c>cls.output.weight</c>
/// (the two rows of the tokens "yes" and "no", labels <c>yes</c>/<c>no</c>, pooling type RANK), which llama.cpp's
/// RANK pooling, llama-server's <c>/v1/rerank</c> and LLamaSharp's <c>LLamaReranker</c> score with. Unquantized, the
/// two give the same yes/no logits. After quantization they can differ: llama.cpp's quantizer may store the two
/// heads at different precisions (for example the LM head at f16 or q6_K and the rank head at q8_0 or q4_K), and
/// each head's rounding moves the yes-minus-no logit differently. <see cref="Rank"/> gives the scores those tools
/// give on the same file and prompt; <see cref="Lm"/> gives the scores of the LM head's single tokens.
/// </remarks>
public enum ScoreHead
{
    /// <summary>The rank head when the model has a yes/no one (converted Qwen3-Reranker files), else the LM head.</summary>
    Auto,

    /// <summary>
    /// The rank head, exactly as llama.cpp's RANK pooling applies it: the last prompt token's final normalized hidden
    /// state times the head's two rows (with ggml's own CPU kernels for the head's storage type), then softmax.
    /// Loading a model without a yes/no rank head fails with <see cref="ModelNotSupportedException"/>.
    /// </summary>
    Rank,

    /// <summary>The LM head: the last prompt token's logits of the single tokens "yes" and "no".</summary>
    Lm,
}
