using System.Globalization;
using FastRank.Engine;
using FastRank.Interop;

namespace FastRank.Ranking;

/// <summary>
/// The passage labels of a listwise prompt (<c>A</c>..<c>T</c> or <c>1</c>..<c>20</c>) and, for each, the
/// token the model emits for it right after <c>[</c>: the identifier as it tokenizes after a bracket,
/// bare, with no leading space. Resolved once per model.
/// </summary>
internal sealed class ListwiseIdentifierSet
{
    private ListwiseIdentifierSet(ListwiseIdentifiers kind, string[] labels, int[] tokens)
    {
        Kind = kind;
        Labels = labels;
        Tokens = tokens;
    }

    public ListwiseIdentifiers Kind { get; }

    /// <summary>Label text of each position in a window (without brackets).</summary>
    public string[] Labels { get; }

    /// <summary>Token id read for each position in a window.</summary>
    public int[] Tokens { get; }

    public int Count => Labels.Length;

    /// <summary>The label of window position <paramref name="i"/>.</summary>
    public static string Label(ListwiseIdentifiers kind, int i) =>
        kind == ListwiseIdentifiers.Letters ? ((char)('A' + i)).ToString() : (i + 1).ToString(CultureInfo.InvariantCulture);

    /// <summary>Resolves the first <paramref name="count"/> identifiers of <paramref name="kind"/>.</summary>
    /// <exception cref="ModelNotSupportedException">An identifier is not one token of the vocabulary, or two share a token.</exception>
    public static ListwiseIdentifierSet Resolve(LlamaModel model, ListwiseIdentifiers kind, int count)
    {
        var labels = new string[count];
        var tokens = new int[count];
        int[] open = model.TokenizeTemplate("[");
        var owner = new Dictionary<int, string>();
        for (int i = 0; i < count; i++)
        {
            string label = Label(kind, i);
            labels[i] = label;
            int token = AfterBracket(model, open, label) ?? Bare(model, label)
                ?? throw new ModelNotSupportedException(
                    $"'{Path.GetFileName(model.Path)}' has no single token for the identifier \"{label}\" after \"[\": " +
                    $"listwise ranking with {kind.ToString().ToLowerInvariant()} identifiers and windows of {count} needs one per passage" +
                    (kind == ListwiseIdentifiers.Numbers ? " (try letter identifiers or a smaller window)" : ""));
            if (!owner.TryAdd(token, label))
                throw new ModelNotSupportedException($"'{Path.GetFileName(model.Path)}' reads identifiers \"{owner[token]}\" and \"{label}\" from the same token {token}");
            tokens[i] = token;
        }
        return new ListwiseIdentifierSet(kind, labels, tokens);
    }

    /// <summary>The token that follows the bracket's tokens when <c>[label</c> is tokenized, if it is exactly one.</summary>
    private static int? AfterBracket(LlamaModel model, int[] open, string label)
    {
        int[] t = model.TokenizeTemplate("[" + label);
        if (t.Length != open.Length + 1 || !t.AsSpan(0, open.Length).SequenceEqual(open)) return null;
        return model.TokenPiece(t[^1]) == label ? t[^1] : null;
    }

    /// <summary>A normal token whose text is exactly the label (for vocabularies that merge <c>[</c> with what follows).</summary>
    private static int? Bare(LlamaModel model, string label)
    {
        int[] t = model.TokenizeText(label);
        if (t.Length == 1 && model.TokenPiece(t[0]) == label) return t[0];
        for (int id = 0; id < model.VocabSize; id++)
        {
            if ((model.Attributes(id) & LlamaTokenAttr.Normal) != 0 && model.TokenPiece(id) == label) return id;
        }
        return null;
    }

    /// <summary>Index of <paramref name="label"/> among the first <paramref name="n"/> labels, or -1.</summary>
    public static int IndexOf(ListwiseIdentifiers kind, ReadOnlySpan<char> label, int n)
    {
        if (kind == ListwiseIdentifiers.Letters)
        {
            if (label.Length != 1) return -1;
            int i = char.ToUpperInvariant(label[0]) - 'A';
            return i >= 0 && i < n ? i : -1;
        }
        if (!int.TryParse(label, NumberStyles.None, CultureInfo.InvariantCulture, out int v)) return -1;
        return v >= 1 && v <= n ? v - 1 : -1;
    }
}
