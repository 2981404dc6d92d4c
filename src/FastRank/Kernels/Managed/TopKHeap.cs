using System.Runtime.CompilerServices;

namespace FastRank.Kernels.Managed;

/// <summary>
/// The bounded heap behind every managed top-k, the same structure as the native fr_heap: a min-heap
/// whose root is the worst kept entry, so rejecting a candidate costs one comparison. Ordering: NaN last,
/// then value descending, then index ascending.
/// </summary>
internal ref struct TopKHeap
{
    private readonly Span<float> _values;
    private readonly Span<int> _indices;
    private int _size;

    public TopKHeap(Span<float> values, Span<int> indices, int count = 0)
    {
        _values = values;
        _indices = indices;
        _size = count;
    }

    /// <summary>Entries kept so far (to resume a heap whose storage outlives this struct).</summary>
    public readonly int Count => _size;

    public readonly float RootValue => _values[0];

    /// <summary>True if (av, ai) ranks after (bv, bi).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool RanksAfter(float av, int ai, float bv, int bi)
    {
        bool an = float.IsNaN(av), bn = float.IsNaN(bv);
        if (an | bn)
            return an && (!bn || ai > bi);
        return av < bv || (av == bv && ai > bi);
    }

    /// <summary>Offers (v, i); indices must increase from call to call, so a tie with the root never displaces it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Offer(float v, int i)
    {
        if (_size < _values.Length)
        {
            Push(v, i);
            return;
        }
        if (RanksAfter(_values[0], _indices[0], v, i))
            ReplaceRoot(v, i);
    }

    private void Push(float v, int i)
    {
        int j = _size++;
        while (j > 0)
        {
            int p = (j - 1) >> 1;
            if (!RanksAfter(v, i, _values[p], _indices[p]))
                break;
            _values[j] = _values[p];
            _indices[j] = _indices[p];
            j = p;
        }
        _values[j] = v;
        _indices[j] = i;
    }

    private readonly void ReplaceRoot(float v, int i) => SiftDown(0, v, i, _size);

    private readonly void SiftDown(int j, float v, int x, int n)
    {
        while (true)
        {
            int c = (2 * j) + 1;
            if (c >= n)
                break;
            if (c + 1 < n && RanksAfter(_values[c + 1], _indices[c + 1], _values[c], _indices[c]))
                c++;
            if (!RanksAfter(_values[c], _indices[c], v, x))
                break;
            _values[j] = _values[c];
            _indices[j] = _indices[c];
            j = c;
        }
        _values[j] = v;
        _indices[j] = x;
    }

    /// <summary>Sorts the kept entries into rank order in place (each pop moves the worst to the end).</summary>
    public void Finish()
    {
        for (int last = _size - 1; last > 0; last--)
        {
            float v = _values[0];
            int x = _indices[0];
            float lv = _values[last];
            int lx = _indices[last];
            _values[last] = v;
            _indices[last] = x;
            SiftDown(0, lv, lx, last);
        }
        _size = 0;
    }
}
