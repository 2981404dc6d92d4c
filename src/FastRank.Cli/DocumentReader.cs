using System.Text.Json;

namespace FastRank.Cli;

/// <summary>A document read from --docs.</summary>
internal sealed record InputDocument(string Text, string? Id);

/// <summary>
/// Reads documents for --docs: JSON Lines (<c>{"text": ..., "id": ...}</c>, chosen when the file ends in
/// .jsonl or its first non-blank line starts with '{'), or plain text with one document per non-blank
/// line; <c>-</c> reads standard input.
/// </summary>
internal static class DocumentReader
{
    public static List<InputDocument> Read(string source, TextReader stdin)
    {
        string text = source == "-" ? stdin.ReadToEnd()
            : File.Exists(source) ? File.ReadAllText(source)
            : throw new FileNotFoundException($"documents file '{source}' does not exist", source);
        string[] lines = text.ReplaceLineEndings("\n").Split('\n');
        string? first = lines.FirstOrDefault(l => l.Trim().Length > 0);
        bool jsonl = source.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || (first?.TrimStart().StartsWith('{') ?? false);
        var docs = new List<InputDocument>(lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Trim().Length == 0) continue;
            docs.Add(jsonl ? ParseJsonLine(line, i + 1) : new InputDocument(line, null));
        }
        return docs;
    }

    private static InputDocument ParseJsonLine(string line, int number)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new UsageException($"--docs line {number}: expected a JSON object");
            if (!root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                throw new UsageException($"--docs line {number}: missing string field \"text\"");
            string? id = null;
            if (root.TryGetProperty("id", out var idEl))
            {
                id = idEl.ValueKind switch
                {
                    JsonValueKind.String => idEl.GetString(),
                    JsonValueKind.Number => idEl.GetRawText(),
                    JsonValueKind.Null => null,
                    _ => throw new UsageException($"--docs line {number}: \"id\" must be a string or a number"),
                };
            }
            return new InputDocument(text.GetString()!, id);
        }
        catch (JsonException ex)
        {
            throw new UsageException($"--docs line {number}: invalid JSON ({ex.Message})");
        }
    }
}
