namespace FastRank.Prompts;

/// <summary>Jinja chat templates of the common model families, as embedded in GGUF files, and the reranking template of Qwen3-Reranker.</summary>
internal static class ChatTemplates
{
    /// <summary>ChatML (Qwen, many others).</summary>
    public const string ChatMLJinja =
        "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}" +
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

    /// <summary>Llama 3 / 3.1 / 3.2 instruct.</summary>
    public const string Llama3Jinja =
        "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}" +
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

    /// <summary>Mistral / Zephyr-style [INST] template.</summary>
    public const string MistralJinja =
        "{{- bos_token }}{%- for message in messages %}{%- if message['role'] == 'user' %}{{- '[INST] ' + message['content'] + ' [/INST]' }}" +
        "{%- elif message['role'] == 'assistant' %}{{- message['content'] + eos_token }}{%- endif %}{%- endfor %}";

    /// <summary>
    /// The prompt of Qwen3-Reranker with <c>{instruction}</c>, <c>{query}</c> and <c>{document}</c> placeholders
    /// (the model card's layout). The default instruction is <see cref="DefaultInstruction"/>.
    /// </summary>
    public const string Qwen3RerankerPrompt =
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. " +
        "Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n" +
        "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

    /// <summary>The default pointwise instruction of Qwen3-Reranker.</summary>
    public const string DefaultInstruction = "Given a web search query, retrieve relevant passages that answer the query";

    /// <summary>
    /// The named <c>rerank</c> template that llama.cpp's converter writes into Qwen3-Reranker GGUFs
    /// (<c>tokenizer.chat_template.rerank</c>): the prompt above with the default instruction filled in.
    /// </summary>
    public static string Qwen3RerankTemplate { get; } = Qwen3RerankerPrompt.Replace("{instruction}", DefaultInstruction, StringComparison.Ordinal);
}
