using System.Text.RegularExpressions;

namespace FastRank.Ranking;

/// <summary>What parsing a generated permutation found and repaired.</summary>
/// <param name="Found">Distinct identifiers of the window found in the text, in order.</param>
/// <param name="Duplicates">Identifiers found again after their first occurrence (ignored).</param>
/// <param name="Unknown">Identifier-looking items that name no passage of the window (ignored).</param>
/// <param name="Missing">Passages the text did not name (appended in window order).</param>
internal readonly record struct PermutationParse(int Found, int Duplicates, int Unknown, int Missing)
{
    public bool Repaired => Duplicates > 0 || Unknown > 0 || Missing > 0;
}

/// <summary>
/// Turns the text a model generated for a window (<c>[B] &gt; [A] &gt; [C]</c>, or worse) into a
/// permutation of the window. Bracketed identifiers are read in order; when the text has none, identifiers
/// standing alone (<c>B &gt; A, C</c>) are. The first occurrence of an identifier wins,
/// identifiers outside the window and any other text are ignored, and passages the text does not name
/// follow in window order: the result is always a complete permutation.
/// </summary>
internal static partial class ListwisePermutationParser
{
    [GeneratedRegex(@"\[\s*([A-Za-z]|[0-9]{1,3})\s*\]", RegexOptions.CultureInvariant)]
    private static partial Regex Bracketed();

    [GeneratedRegex(@"(?<![A-Za-z0-9])([A-Z]|[0-9]{1,3})(?![A-Za-z0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex Bare();

    /// <summary>Parses <paramref name="text"/> into a permutation of 0..<paramref name="n"/>-1 (window positions, best first).</summary>
    public static int[] Parse(string text, ListwiseIdentifiers kind, int n, out PermutationParse report)
    {
        ArgumentNullException.ThrowIfNull(text);
        var perm = new int[n];
        var seen = new bool[n];
        int found = 0, duplicates = 0, unknown = 0;
        var matches = Bracketed().Matches(text);
        if (matches.Count == 0) matches = Bare().Matches(text);
        foreach (Match m in matches)
        {
            int i = ListwiseIdentifierSet.IndexOf(kind, m.Groups[1].ValueSpan, n);
            if (i < 0) unknown++;
            else if (seen[i]) duplicates++;
            else
            {
                seen[i] = true;
                perm[found++] = i;
            }
        }
        int missing = n - found;
        int k = found;
        for (int i = 0; i < n; i++)
            if (!seen[i]) perm[k++] = i;
        report = new PermutationParse(found, duplicates, unknown, missing);
        return perm;
    }

    /// <summary>Distinct window identifiers in bracketed form so far (to stop generating once all are there).</summary>
    public static int CountBracketed(string text, ListwiseIdentifiers kind, int n)
    {
        Span<bool> seen = n <= 256 ? stackalloc bool[n] : new bool[n];
        int count = 0;
        foreach (var m in Bracketed().EnumerateMatches(text))
        {
            var span = text.AsSpan(m.Index + 1, m.Length - 2).Trim();
            int i = ListwiseIdentifierSet.IndexOf(kind, span, n);
            if (i >= 0 && !seen[i])
            {
                seen[i] = true;
                count++;
            }
        }
        return count;
    }
}
