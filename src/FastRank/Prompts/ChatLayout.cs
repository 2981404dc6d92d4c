using System.Text;
using LLama;
using LLama.Exceptions;

namespace FastRank.Prompts;

/// <summary>
/// How a chat model wants one system message, one user message and the start of its answer laid
/// out: a template with a <c>{user}</c> placeholder and optionally a <c>{system}</c> one, whose literal
/// text is the model's own markup (special tokens allowed). Listwise methods render their prompt
/// through a layout instead of a Jinja engine: the messages are known (system, user, generation
/// prompt), so a layout is all of a chat template they need, and it keeps the prompt split into
/// trusted markup and untrusted text.
/// </summary>
/// <param name="Name">The layout's name (<c>chatml</c>, <c>qwen3</c>, <c>llama3</c>, <c>mistral</c>, <c>zephyr</c>, <c>gguf</c>, <c>user</c>).</param>
/// <param name="Template">The layout text with <c>{user}</c> and optionally <c>{system}</c>. It does not hold BOS: the model's add-BOS flag decides that.</param>
public sealed record ChatLayout(string Name, string Template)
{
    // Declared before the layouts below: static initializers run in text order.
    private static readonly string[] Placeholders = ["system", "user"];
    private static readonly string[] Required = ["user"];

    /// <summary>ChatML (Qwen2.5, many others).</summary>
    public static ChatLayout ChatML { get; } = new("chatml",
        "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n");

    /// <summary>Qwen3: ChatML with an empty thinking block, as its template renders with thinking disabled.</summary>
    public static ChatLayout Qwen3 { get; } = new("qwen3",
        "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");

    /// <summary>Llama 3 / 3.1 / 3.2 instruct (BOS comes from the model's add-BOS flag).</summary>
    public static ChatLayout Llama3 { get; } = new("llama3",
        "<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n");

    /// <summary>Mistral instruct: no system role, so the system text opens the user turn.</summary>
    public static ChatLayout Mistral { get; } = new("mistral", "[INST] {system}\n\n{user} [/INST]");

    /// <summary>Zephyr (RankZephyr and other Zephyr fine-tunes).</summary>
    public static ChatLayout Zephyr { get; } = new("zephyr", "<|system|>\n{system}</s>\n<|user|>\n{user}</s>\n<|assistant|>\n");

    /// <summary>The built-in layouts by name.</summary>
    public static IReadOnlyList<ChatLayout> BuiltIn { get; } = [ChatML, Qwen3, Llama3, Mistral, Zephyr];

    /// <summary>The template parsed into literal and placeholder parts.</summary>
    internal PromptTemplate Parsed { get; } = PromptTemplate.Parse(Template, Placeholders, Required);

    /// <summary>Whether the layout has a place for system text (without one, system text opens the user turn).</summary>
    public bool HasSystem => Parsed.IndexOf("system") >= 0;

    /// <summary>
    /// Resolves a layout option: null or <c>auto</c> is resolved elsewhere (from the model); a built-in
    /// name gives that layout; any other text is a user layout and must contain <c>{user}</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The text is neither a known name nor a template with <c>{user}</c>, or <c>{user}</c> comes before <c>{system}</c>.</exception>
    public static ChatLayout Parse(string nameOrTemplate)
    {
        ArgumentException.ThrowIfNullOrEmpty(nameOrTemplate);
        foreach (var b in BuiltIn)
            if (string.Equals(b.Name, nameOrTemplate, StringComparison.OrdinalIgnoreCase)) return b;
        if (!nameOrTemplate.Contains("{user}", StringComparison.Ordinal))
            throw new ArgumentException(
                $"chat layout '{nameOrTemplate}' is neither a known name ({string.Join(", ", BuiltIn.Select(b => b.Name))}, auto) nor a template with a {{user}} placeholder",
                nameof(nameOrTemplate));
        var layout = new ChatLayout("user", nameOrTemplate);
        int sys = layout.Parsed.IndexOf("system");
        if (sys > layout.Parsed.IndexOf("user")) throw new ArgumentException("a chat layout must place {system} before {user}", nameof(nameOrTemplate));
        return layout;
    }

    /// <summary>
    /// The built-in layout of the family a Jinja chat template belongs to, recognised from the markup it
    /// emits; null when the template is of no known family.
    /// </summary>
    public static ChatLayout? DetectFamily(string? jinja)
    {
        if (string.IsNullOrEmpty(jinja)) return null;
        if (jinja.Contains("<|im_start|>", StringComparison.Ordinal))
            return jinja.Contains("<think>", StringComparison.Ordinal) ? Qwen3 : ChatML;
        if (jinja.Contains("<|start_header_id|>", StringComparison.Ordinal)) return Llama3;
        if (jinja.Contains("<|user|>", StringComparison.Ordinal) && jinja.Contains("<|assistant|>", StringComparison.Ordinal)
            && (jinja.Contains("</s>", StringComparison.Ordinal) || jinja.Contains("eos_token", StringComparison.Ordinal)))
            return Zephyr;
        if (jinja.Contains("[INST]", StringComparison.Ordinal)) return Mistral;
        return null;
    }

    /// <summary>
    /// A layout derived by letting llama.cpp apply <paramref name="jinja"/> (its built-in template
    /// heuristics) to a system and a user message made of sentinels; null when llama.cpp does not know
    /// the template or the sentinels do not come out in order.
    /// </summary>
    public static ChatLayout? FromLlamaCpp(string? jinja)
    {
        if (string.IsNullOrEmpty(jinja)) return null;
        const string Sys = "\u0001FASTRANK-SYSTEM\u0001";
        const string Usr = "\u0001FASTRANK-USER\u0001";
        string text;
        try
        {
            Engine.LlamaRuntime.EnsureLoaded();
            var t = new LLamaTemplate(jinja) { AddAssistant = true };
            t.Add("system", Sys);
            t.Add("user", Usr);
            text = Encoding.UTF8.GetString(t.Apply());
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or RuntimeError)
        {
            return null;
        }
        int u = text.IndexOf(Usr, StringComparison.Ordinal);
        if (u < 0 || text.IndexOf(Usr, u + 1, StringComparison.Ordinal) >= 0) return null;
        int s = text.IndexOf(Sys, StringComparison.Ordinal);
        if (s > u || (s >= 0 && text.IndexOf(Sys, s + 1, StringComparison.Ordinal) >= 0)) return null;
        // Braces in the markup would read as placeholders; no known template has them.
        if (text.Contains('{') || text.Contains('}')) return null;
        string layout = text.Replace(Sys, "{system}", StringComparison.Ordinal).Replace(Usr, "{user}", StringComparison.Ordinal);
        return new ChatLayout("gguf", StripLeadingBos(layout));
    }

    /// <summary>
    /// The layout for a model: the user's choice, else the family of the GGUF's chat template, else
    /// what llama.cpp makes of it, else ChatML when the vocabulary has its control tokens. Returns the
    /// layout and where it came from.
    /// </summary>
    /// <exception cref="ModelNotSupportedException">No layout could be found for the model.</exception>
    internal static (ChatLayout Layout, string Source) Choose(Engine.LlamaModel model, string? option)
    {
        if (option is not null && !string.Equals(option, "auto", StringComparison.OrdinalIgnoreCase))
        {
            var chosen = Parse(option);
            return (chosen, chosen.Name == "user" ? "user" : "builtin:" + chosen.Name);
        }
        string? jinja = model.ChatTemplate();
        if (DetectFamily(jinja) is { } family) return (family, "gguf-family:" + family.Name);
        if (FromLlamaCpp(jinja) is { } derived) return (derived, "gguf:llama.cpp");
        if (jinja is null && model.TokenizeTemplate("<|im_start|>").Length == 1) return (ChatML, "fallback:chatml");
        throw new ModelNotSupportedException(
            $"'{Path.GetFileName(model.Path)}' has {(jinja is null ? "no chat template" : "a chat template of no known family")}; " +
            "choose a chat layout (chatml, qwen3, llama3, mistral, zephyr) or give one with {system} and {user} placeholders");
    }

    private static string StripLeadingBos(string layout)
    {
        foreach (string bos in (string[])["<|begin_of_text|>", "<s>", "<bos>"])
            if (layout.StartsWith(bos, StringComparison.Ordinal)) return layout[bos.Length..];
        return layout;
    }
}
