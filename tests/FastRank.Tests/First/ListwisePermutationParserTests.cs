using FastRank.Ranking;

namespace FastRank.Tests.First;

/// <summary>Parsing and repair of generated permutations (listwise-generate).</summary>
public class ListwisePermutationParserTests
{
    private static int[] Parse(string text, int n, out PermutationParse report, ListwiseIdentifiers kind = ListwiseIdentifiers.Letters) =>
        ListwisePermutationParser.Parse(text, kind, n, out report);

    [Fact]
    public void WellFormed_IsReadAsIs()
    {
        int[] p = Parse("[C] > [A] > [D] > [B]", 4, out var r);
        Assert.Equal([2, 0, 3, 1], p);
        Assert.False(r.Repaired);
        Assert.Equal(4, r.Found);
    }

    [Fact]
    public void Missing_AreAppendedInWindowOrder()
    {
        int[] p = Parse("[D] > [B]", 5, out var r);
        Assert.Equal([3, 1, 0, 2, 4], p);
        Assert.Equal(3, r.Missing);
        Assert.True(r.Repaired);
    }

    [Fact]
    public void Duplicates_FirstOccurrenceWins()
    {
        int[] p = Parse("[B] > [A] > [B] > [C] > [A]", 3, out var r);
        Assert.Equal([1, 0, 2], p);
        Assert.Equal(2, r.Duplicates);
        Assert.Equal(0, r.Missing);
    }

    [Fact]
    public void JunkText_AndIdentifiersOutsideTheWindow_AreIgnored()
    {
        int[] p = Parse("Sure! Here Is The ranking:\n[C] > [Z] > blah [A] >> [ b ] and [Q]. I hope this helps", 4, out var r);
        Assert.Equal([2, 0, 1, 3], p);
        Assert.Equal(2, r.Unknown);
        Assert.Equal(1, r.Missing);
    }

    [Fact]
    public void NoBrackets_FallsBackToIdentifiersStandingAlone()
    {
        Assert.Equal([2, 0, 1], Parse("C > A > B", 3, out _));
        Assert.Equal([1, 2, 0], Parse("B, C, A", 3, out _));
    }

    [Fact]
    public void NothingUsable_GivesTheWindowOrder()
    {
        Assert.Equal([0, 1, 2, 3], Parse("", 4, out var r));
        Assert.Equal(4, r.Missing);
        Assert.Equal([0, 1, 2], Parse("zzz ??? ]]] [[[ >>>", 3, out _));
    }

    [Fact]
    public void Numbers_AreParsed_MultiDigitIncluded()
    {
        int[] p = Parse("[12] > [3] > [1] > [12] > [13] > [0]", 12, out var r, ListwiseIdentifiers.Numbers);
        Assert.Equal(11, p[0]);
        Assert.Equal(2, p[1]);
        Assert.Equal(0, p[2]);
        Assert.Equal([1, 3, 4, 5, 6, 7, 8, 9, 10], p[3..]);
        Assert.Equal(1, r.Duplicates);
        Assert.Equal(2, r.Unknown);
    }

    [Fact]
    public void Letters_AreNotReadAsNumbers_AndViceVersa()
    {
        Assert.Equal([0, 1, 2], Parse("[2] > [1] > [3]", 3, out var r));
        Assert.Equal(3, r.Unknown);
        Assert.Equal([0, 1, 2], Parse("[B] > [A] > [C]", 3, out r, ListwiseIdentifiers.Numbers));
        Assert.Equal(3, r.Unknown);
    }

    [Fact]
    public void CountBracketed_CountsDistinctWindowIdentifiers()
    {
        Assert.Equal(2, ListwisePermutationParser.CountBracketed("[B] > [A] > [B] > [Z] > [C", ListwiseIdentifiers.Letters, 3));
        Assert.Equal(3, ListwisePermutationParser.CountBracketed("[B] > [A] > [C]", ListwiseIdentifiers.Letters, 3));
    }

    [Fact]
    public void Result_IsAlwaysAPermutation()
    {
        var random = new Random(5);
        const string Alphabet = "[]> ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.\n";
        for (int trial = 0; trial < 500; trial++)
        {
            int n = random.Next(1, 27);
            var chars = new char[random.Next(0, 120)];
            for (int i = 0; i < chars.Length; i++) chars[i] = Alphabet[random.Next(Alphabet.Length)];
            int[] p = Parse(new string(chars), n, out _);
            Assert.Equal(Enumerable.Range(0, n), p.Order());
        }
    }
}
