namespace FastRank;

/// <summary>Base of every error FastRank raises on purpose.</summary>
public class FastRankException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FastRankException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public FastRankException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>llama.cpp could not load a model that passed GGUF validation (unsupported architecture, missing tensors, out of memory).</summary>
public sealed class ModelLoadException(string message, Exception? inner = null) : FastRankException(message, inner);

/// <summary>The model loads but cannot serve the requested method (for example no single-token "yes"/"no", or identifiers that are not single tokens).</summary>
public sealed class ModelNotSupportedException(string message) : FastRankException(message);

/// <summary>llama.cpp failed to evaluate a batch (for example the KV cache could not hold it). The reranker stays usable.</summary>
public sealed class DecodeException(string message, int status) : FastRankException(message)
{
    /// <summary>The status llama_decode returned.</summary>
    public int Status { get; } = status;
}
