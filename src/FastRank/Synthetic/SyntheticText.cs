using System.Text;

namespace FastRank.Synthetic;

/// <summary>English-like text for tests and benchmarks: words drawn from the embedded frequency list (Zipf-like), deterministic per seed.</summary>
internal static class SyntheticText
{
    /// <summary>The embedded English words, most frequent first.</summary>
    public static IReadOnlyList<string> Words => SyntheticVocabulary.EnglishWords;

    /// <summary>A text of <paramref name="words"/> words drawn with <paramref name="random"/>, with sentence punctuation.</summary>
    public static string Sentence(Random random, int words, int vocabulary = 8000)
    {
        ArgumentNullException.ThrowIfNull(random);
        var list = Words;
        int v = Math.Min(vocabulary, list.Count);
        var sb = new StringBuilder(words * 7);
        bool start = true;
        for (int i = 0; i < words; i++)
        {
            // Squared uniform: frequent words much more often, as in real text.
            double u = random.NextDouble();
            string w = list[(int)(u * u * v)];
            if (i > 0) sb.Append(' ');
            if (start && w.Length > 0 && char.IsLower(w[0])) sb.Append(char.ToUpperInvariant(w[0])).Append(w, 1, w.Length - 1);
            else sb.Append(w);
            start = false;
            if (i == words - 1 || random.Next(12) == 0)
            {
                sb.Append('.');
                start = true;
            }
        }
        return sb.ToString();
    }

    /// <summary><paramref name="count"/> documents of <paramref name="words"/> words each, from <paramref name="seed"/>.</summary>
    public static IReadOnlyList<string> Documents(int count, int words, int seed = 1)
    {
        var random = new Random(seed);
        var docs = new string[count];
        for (int i = 0; i < count; i++) docs[i] = Sentence(random, words);
        return docs;
    }
}
