namespace FastRank.Gguf;

/// <summary>What kind of semantic fault a <see cref="GgufModelException"/> reports; stable, for callers to switch on.</summary>
public enum GgufModelProblem
{
    /// <summary>The vocabulary is missing, of the wrong type or empty.</summary>
    Vocabulary,

    /// <summary>Two vocabulary entries have the same text (llama.cpp asserts <c>id_to_token.size() == token_to_id.size()</c>).</summary>
    DuplicateToken,

    /// <summary>A byte token the tokenizer falls back to is absent (llama.cpp throws out of <c>llama_tokenize</c>, which aborts).</summary>
    MissingByteToken,

    /// <summary>The scores or token types array is shorter than the vocabulary or of the wrong type.</summary>
    TokenArrayLength,

    /// <summary>A BPE merge does not parse as two tokens separated by one space, or names a token not in the vocabulary.</summary>
    Merge,

    /// <summary>A special token id (BOS, EOS, ...) is outside the vocabulary.</summary>
    SpecialToken,

    /// <summary>The SentencePiece precompiled character map is malformed.</summary>
    CharsMap,

    /// <summary>A hyperparameter is missing, out of range, or inconsistent with another.</summary>
    HyperParameter,

    /// <summary>A tensor's shape contradicts the hyperparameters or the vocabulary.</summary>
    TensorShape,

    /// <summary>A tensor has a type the model cannot use where it is used.</summary>
    TensorType,

    /// <summary>A metadata string holds a NUL byte (llama.cpp reads C strings: it would see another value than the
    /// validator) or is empty (LLamaSharp 0.30.0's metadata reader throws on an empty value).</summary>
    MetadataString,
}

/// <summary>
/// A structurally valid GGUF file whose contents llama.cpp would abort the process on (or could not use),
/// found by <see cref="GgufModelValidator"/> before llama.cpp sees the file.
/// </summary>
public sealed class GgufModelException : GgufFormatException
{
    /// <summary>Creates the exception.</summary>
    public GgufModelException(GgufModelProblem kind, string problem, long offset, string? path = null)
        : base(problem, offset, path)
    {
        Kind = kind;
    }

    /// <summary>The kind of fault.</summary>
    public GgufModelProblem Kind { get; }
}
