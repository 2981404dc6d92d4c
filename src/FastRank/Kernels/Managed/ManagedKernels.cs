using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FastRank.Kernels.Managed;

/// <summary>
/// The managed implementations behind <see cref="RankKernels"/>, used when libfastrank_native is absent
/// (or forced off). Same contracts and edge rules as the C kernels; inputs arrive validated.
/// Top-k and the attention reduction are generic over the vector width (<see cref="ManagedVariant"/>);
/// log-sum-exp and the dot products lean on TensorPrimitives, which picks its own width.
/// </summary>
[SkipLocalsInit]
internal static unsafe class ManagedKernels
{
    private const int StackFloats = 1024;

    // ---- top-k -------------------------------------------------------------------------------------

    public static void TopKRow(ManagedVariant variant, ReadOnlySpan<float> x, Span<int> indices, Span<float> values)
    {
        switch (variant)
        {
            case ManagedVariant.Vector512: TopKRow<Vector512Operations, Vector512<float>>(x, indices, values); break;
            case ManagedVariant.Vector256: TopKRow<Vector256Operations, Vector256<float>>(x, indices, values); break;
            case ManagedVariant.Vector128: TopKRow<Vector128Operations, Vector128<float>>(x, indices, values); break;
            default: TopKRow<ScalarOperations, float>(x, indices, values); break;
        }
    }

    /// <summary>
    /// The k best of x (k = indices.Length &lt;= x.Length) in rank order. Threshold scan as in the C kernel:
    /// blocks of four vectors are compared with the current k-th best and skipped when no lane beats it,
    /// which is almost every block, so the loop runs at load speed and only winners touch the heap.
    /// </summary>
    private static void TopKRow<TOps, TVector>(ReadOnlySpan<float> x, Span<int> indices, Span<float> values)
        where TOps : ISimdOperations<TVector>
        where TVector : struct
    {
        int k = indices.Length, n = x.Length, i = 0;
        var heap = new TopKHeap(values, indices);
        for (; i < k; i++)
            heap.Offer(x[i], i);
        int count = TOps.Count, block = 4 * count;
        ref float origin = ref MemoryMarshal.GetReference(x);
        TVector threshold = TOps.Create(heap.RootValue);
        bool nanRoot = float.IsNaN(heap.RootValue);
        for (; i + block <= n; i += block)
        {
            if (nanRoot)
            {
                // Any number beats a NaN root; this lasts only until k numbers have been seen.
                for (int j = i; j < i + block; j++)
                    heap.Offer(x[j], j);
                threshold = TOps.Create(heap.RootValue);
                nanRoot = float.IsNaN(heap.RootValue);
                continue;
            }
            nuint at = (nuint)i;
            ulong mask = TOps.GreaterThanBits(TOps.Load(ref origin, at), threshold)
                | (TOps.GreaterThanBits(TOps.Load(ref origin, at + (nuint)count), threshold) << count)
                | (TOps.GreaterThanBits(TOps.Load(ref origin, at + (nuint)(2 * count)), threshold) << (2 * count))
                | (TOps.GreaterThanBits(TOps.Load(ref origin, at + (nuint)(3 * count)), threshold) << (3 * count));
            if (mask == 0)
                continue;
            do
            {
                int b = BitOperations.TrailingZeroCount(mask);
                mask &= mask - 1;
                heap.Offer(x[i + b], i + b);
            }
            while (mask != 0);
            threshold = TOps.Create(heap.RootValue);
        }
        for (; i < n; i++)
            heap.Offer(x[i], i);
        heap.Finish();
    }

    // ---- logits ----------------------------------------------------------------------------------------

    /// <summary>m + log(sum exp(x - m)); NaN anywhere gives NaN, an infinite max gives that max.</summary>
    public static float LogSumExp(ReadOnlySpan<float> row)
    {
        float max = TensorPrimitives.Max(row);  // NaN if any element is NaN
        if (float.IsNaN(max) || float.IsInfinity(max))
            return max;
        Span<float> tmp = stackalloc float[StackFloats];
        double sum = 0;
        for (int i = 0; i < row.Length; i += StackFloats)
        {
            ReadOnlySpan<float> chunk = row.Slice(i, Math.Min(StackFloats, row.Length - i));
            Span<float> t = tmp[..chunk.Length];
            TensorPrimitives.Subtract(chunk, max, t);
            TensorPrimitives.Exp(t, t);
            sum += TensorPrimitives.Sum(t);
        }
        return (float)(max + Math.Log(sum));
    }

    /// <summary>Softmax over the gathered logits only, in double; NaN or an infinity in the set gives NaN for all.</summary>
    public static void RestrictedSoftmax(ReadOnlySpan<float> row, ReadOnlySpan<int> ids, Span<float> output)
    {
        float max = float.NegativeInfinity;
        bool bad = false;
        foreach (int id in ids)
        {
            float v = row[id];
            bad |= float.IsNaN(v);
            if (v > max)
                max = v;
        }
        if (bad || float.IsInfinity(max))
        {
            output.Fill(float.NaN);
            return;
        }
        double sum = 0;
        foreach (int id in ids)
            sum += Math.Exp((double)row[id] - max);
        for (int i = 0; i < ids.Length; i++)
            output[i] = (float)(Math.Exp((double)row[ids[i]] - max) / sum);
    }

    // ---- attention ----------------------------------------------------------------------------------------

    public static void AccumulateAttention(ManagedVariant variant, byte* data, in AttentionTensorLayout layout,
        int rowStart, int rowEnd, int stream, float scale, Span<float> accumulator)
    {
        switch (variant)
        {
            case ManagedVariant.Vector512:
                AccumulateAttention<Vector512Operations, Vector512<float>>(data, layout, rowStart, rowEnd, stream, scale, accumulator);
                break;
            case ManagedVariant.Vector256:
                AccumulateAttention<Vector256Operations, Vector256<float>>(data, layout, rowStart, rowEnd, stream, scale, accumulator);
                break;
            case ManagedVariant.Vector128:
                AccumulateAttention<Vector128Operations, Vector128<float>>(data, layout, rowStart, rowEnd, stream, scale, accumulator);
                break;
            default:
                AccumulateAttention<ScalarOperations, float>(data, layout, rowStart, rowEnd, stream, scale, accumulator);
                break;
        }
    }

    private static void AccumulateAttention<TOps, TVector>(byte* data, in AttentionTensorLayout layout,
        int rowStart, int rowEnd, int stream, float scale, Span<float> accumulator)
        where TOps : ISimdOperations<TVector>
        where TVector : struct
    {
        int cells = (int)layout.Cells;
        byte* baseAddress = data + (stream * layout.StreamStride);
        if (layout.CellStride != sizeof(float))
        {
            // Cells not contiguous (a transposed view): strided scalar loop, as in the C library.
            for (int c = 0; c < cells; c++)
            {
                float s = 0;
                for (long h = 0; h < layout.Heads; h++)
                {
                    for (long t = rowStart; t < rowEnd; t++)
                        s += Unsafe.ReadUnaligned<float>(baseAddress + (c * layout.CellStride) + (t * layout.TokenStride) + (h * layout.HeadStride));
                }
                accumulator[c] += scale * s;
            }
            return;
        }
        // Four rows per pass over the accumulator: one read-modify-write of it per four rows read.
        ref float acc = ref MemoryMarshal.GetReference(accumulator);
        float* pending0 = null, pending1 = null, pending2 = null;
        int waiting = 0;
        for (long h = 0; h < layout.Heads; h++)
        {
            for (long t = rowStart; t < rowEnd; t++)
            {
                float* row = (float*)(baseAddress + (h * layout.HeadStride) + (t * layout.TokenStride));
                switch (waiting)
                {
                    case 0: pending0 = row; waiting = 1; break;
                    case 1: pending1 = row; waiting = 2; break;
                    case 2: pending2 = row; waiting = 3; break;
                    default:
                        AddRows4<TOps, TVector>(ref acc, pending0, pending1, pending2, row, cells, scale);
                        waiting = 0;
                        break;
                }
            }
        }
        if (waiting > 0) AddRow<TOps, TVector>(ref acc, pending0, cells, scale);
        if (waiting > 1) AddRow<TOps, TVector>(ref acc, pending1, cells, scale);
        if (waiting > 2) AddRow<TOps, TVector>(ref acc, pending2, cells, scale);
    }

    private static void AddRows4<TOps, TVector>(ref float acc, float* a, float* b, float* c, float* d, int n, float scale)
        where TOps : ISimdOperations<TVector>
        where TVector : struct
    {
        TVector sv = TOps.Create(scale);
        ref float ra = ref *a, rb = ref *b, rc = ref *c, rd = ref *d;
        int i = 0;
        for (; i + TOps.Count <= n; i += TOps.Count)
        {
            nuint at = (nuint)i;
            TVector s = TOps.Add(TOps.Add(TOps.Load(ref ra, at), TOps.Load(ref rb, at)), TOps.Add(TOps.Load(ref rc, at), TOps.Load(ref rd, at)));
            TOps.Store(TOps.MultiplyAdd(s, sv, TOps.Load(ref acc, at)), ref acc, at);
        }
        for (; i < n; i++)
            Unsafe.Add(ref acc, i) += scale * ((a[i] + b[i]) + (c[i] + d[i]));
    }

    private static void AddRow<TOps, TVector>(ref float acc, float* a, int n, float scale)
        where TOps : ISimdOperations<TVector>
        where TVector : struct
    {
        TVector sv = TOps.Create(scale);
        ref float ra = ref *a;
        int i = 0;
        for (; i + TOps.Count <= n; i += TOps.Count)
        {
            nuint at = (nuint)i;
            TOps.Store(TOps.MultiplyAdd(TOps.Load(ref ra, at), sv, TOps.Load(ref acc, at)), ref acc, at);
        }
        for (; i < n; i++)
            Unsafe.Add(ref acc, i) += scale * a[i];
    }

    // ---- spans and calibration ------------------------------------------------------------------------------

    /// <summary>
    /// Span sums as in the C kernel: blocks of eight vectors added pairwise in float, block sums widened and
    /// accumulated in double (error below about 2^-21 * sum|x|, at float-sum speed).
    /// </summary>
    public static void SpanSums(ManagedVariant variant, ReadOnlySpan<float> values, ReadOnlySpan<IndexRange> spans, Span<float> sums)
    {
        ref float origin = ref MemoryMarshal.GetReference(values);
        for (int i = 0; i < spans.Length; i++)
        {
            IndexRange r = spans[i];
            ref float start = ref Unsafe.Add(ref origin, r.Start);
            int n = r.End - r.Start;
            sums[i] = (float)(variant switch
            {
                ManagedVariant.Vector512 when n >= 16 => Sum512(ref start, n),
                ManagedVariant.Vector512 or ManagedVariant.Vector256 when n >= 8 => Sum256(ref start, n),
                _ => SumScalar(ref start, n),
            });
        }
    }

    private static double Sum512(ref float p, int n)
    {
        Vector512<double> a0 = default, a1 = default;
        int i = 0;
        for (; i + 128 <= n; i += 128)
        {
            nuint at = (nuint)i;
            Vector512<float> s =
                ((Vector512.LoadUnsafe(ref p, at) + Vector512.LoadUnsafe(ref p, at + 16)) +
                 (Vector512.LoadUnsafe(ref p, at + 32) + Vector512.LoadUnsafe(ref p, at + 48))) +
                ((Vector512.LoadUnsafe(ref p, at + 64) + Vector512.LoadUnsafe(ref p, at + 80)) +
                 (Vector512.LoadUnsafe(ref p, at + 96) + Vector512.LoadUnsafe(ref p, at + 112)));
            a0 += Vector512.WidenLower(s);
            a1 += Vector512.WidenUpper(s);
        }
        Vector512<float> t = default;
        for (; i + 16 <= n; i += 16)
            t += Vector512.LoadUnsafe(ref p, (nuint)i);
        if (i < n)
        {
            // Overlapping tail: reload the last 16 and keep only the n - i lanes not yet counted (n >= 16 here).
            Vector512<int> keep = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(TailMask), (nuint)(16 + (n - i)));
            t += (Vector512.LoadUnsafe(ref p, (nuint)(n - 16)).AsInt32() & keep).AsSingle();
        }
        a0 += Vector512.WidenLower(t);
        a1 += Vector512.WidenUpper(t);
        return Vector512.Sum(a0 + a1);
    }

    private static double Sum256(ref float p, int n)
    {
        Vector256<double> a0 = default, a1 = default;
        int i = 0;
        for (; i + 64 <= n; i += 64)
        {
            nuint at = (nuint)i;
            Vector256<float> s =
                ((Vector256.LoadUnsafe(ref p, at) + Vector256.LoadUnsafe(ref p, at + 8)) +
                 (Vector256.LoadUnsafe(ref p, at + 16) + Vector256.LoadUnsafe(ref p, at + 24))) +
                ((Vector256.LoadUnsafe(ref p, at + 32) + Vector256.LoadUnsafe(ref p, at + 40)) +
                 (Vector256.LoadUnsafe(ref p, at + 48) + Vector256.LoadUnsafe(ref p, at + 56)));
            a0 += Vector256.WidenLower(s);
            a1 += Vector256.WidenUpper(s);
        }
        Vector256<float> t = default;
        for (; i + 8 <= n; i += 8)
            t += Vector256.LoadUnsafe(ref p, (nuint)i);
        if (i < n)
        {
            Vector256<int> keep = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(TailMask), (nuint)(24 + (n - i)));
            t += (Vector256.LoadUnsafe(ref p, (nuint)(n - 8)).AsInt32() & keep).AsSingle();
        }
        a0 += Vector256.WidenLower(t);
        a1 += Vector256.WidenUpper(t);
        return Vector256.Sum(a0 + a1);
    }

    /// <summary>32 zeros then 32 all-ones: 16 ints loaded at 16 + r (8 ints at 24 + r) select the last r lanes.</summary>
    private static ReadOnlySpan<int> TailMask =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    ];

    private static double SumScalar(ref float p, int n)
    {
        double total = 0;
        for (int i = 0; i < n; i++)
            total += Unsafe.Add(ref p, i);
        return total;
    }

    /// <summary>Masked calibration of one document; edge rules as fr_masked_calibration_f32.</summary>
    public static float CalibrationScore(ReadOnlySpan<float> q, ReadOnlySpan<float> na)
    {
        int n = q.Length;
        if (n == 0)
            return 0;
        if (n == 1)
        {
            double c1 = (double)q[0] - na[0];
            return double.IsFinite(c1) ? (float)c1 : float.NaN;
        }
        double sum = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            double c = (double)q[i] - na[i];
            sum += c;
            min = c < min ? c : min;
            max = c > max ? c : max;
        }
        if (!double.IsFinite(sum))
            return float.NaN;
        if (min == max)
            return 0;
        double mean = sum / n, dev = 0;
        for (int i = 0; i < n; i++)
        {
            double d = ((double)q[i] - na[i]) - mean;
            dev += d * d;
        }
        double threshold = mean - (2.0 * Math.Sqrt(dev / (n - 1)));
        double score = 0;
        for (int i = 0; i < n; i++)
        {
            double c = (double)q[i] - na[i];
            if (c > threshold)
                score += c;
        }
        return (float)score;
    }

    // ---- embeddings -------------------------------------------------------------------------------------------

    private const int DotBlockRows = 256;

    /// <summary>scores[q * rowCount + r] = scale[r] * dot(query q, row r), each row widened once for all queries.</summary>
    public static void DotRows<TElement>(ManagedVariant variant, ReadOnlySpan<float> queries, int dimension,
        ReadOnlySpan<TElement> rows, ReadOnlySpan<float> scales, Span<float> scores)
        where TElement : unmanaged
    {
        int rowCount = rows.Length / dimension, queryCount = queries.Length / dimension;
        if (typeof(TElement) == typeof(sbyte) && variant >= ManagedVariant.Vector256)
        {
            // Widening in registers beats TensorPrimitives' sbyte-to-float conversion (not vectorised) by ~8x.
            ReadOnlySpan<sbyte> q8 = MemoryMarshal.Cast<TElement, sbyte>(rows);
            for (int r = 0; r < rowCount; r++)
            {
                ReadOnlySpan<sbyte> row = q8.Slice(r * dimension, dimension);
                for (int q = 0; q < queryCount; q++)
                    scores[(q * rowCount) + r] = scales[r] * DotInt8(variant, queries.Slice(q * dimension, dimension), row);
            }
            return;
        }
        float[]? rented = null;
        Span<float> buffer = dimension <= StackFloats
            ? stackalloc float[StackFloats]
            : (rented = ArrayPool<float>.Shared.Rent(dimension));
        buffer = buffer[..dimension];
        try
        {
            for (int r = 0; r < rowCount; r++)
            {
                Widen(rows.Slice(r * dimension, dimension), buffer);
                float scale = scales.IsEmpty ? 1f : scales[r];
                for (int q = 0; q < queryCount; q++)
                    scores[(q * rowCount) + r] = scale * TensorPrimitives.Dot(queries.Slice(q * dimension, dimension), buffer);
            }
        }
        finally
        {
            if (rented is not null)
                ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Fused dot products and top-k: scores a block of rows, then offers them to each query's heap.</summary>
    public static void TopKDot<TElement>(ManagedVariant variant, ReadOnlySpan<float> queries, int dimension,
        ReadOnlySpan<TElement> rows, ReadOnlySpan<float> scales, int k, Span<int> indices, Span<float> values)
        where TElement : unmanaged
    {
        int rowCount = rows.Length / dimension, queryCount = queries.Length / dimension;
        float[] blockScores = ArrayPool<float>.Shared.Rent(DotBlockRows * queryCount);
        int[] counts = ArrayPool<int>.Shared.Rent(queryCount);
        try
        {
            Array.Clear(counts, 0, queryCount);
            for (int r0 = 0; r0 < rowCount; r0 += DotBlockRows)
            {
                int n = Math.Min(DotBlockRows, rowCount - r0);
                Span<float> block = blockScores.AsSpan(0, n * queryCount);
                // Query-major block: block[q * n + r].
                DotRows(variant, queries, dimension, rows.Slice(r0 * dimension, n * dimension),
                    scales.IsEmpty ? default : scales.Slice(r0, n), block);
                for (int q = 0; q < queryCount; q++)
                {
                    var heap = new TopKHeap(values.Slice(q * k, k), indices.Slice(q * k, k), counts[q]);
                    for (int r = 0; r < n; r++)
                        heap.Offer(block[(q * n) + r], r0 + r);
                    counts[q] = heap.Count;
                }
            }
            for (int q = 0; q < queryCount; q++)
                new TopKHeap(values.Slice(q * k, k), indices.Slice(q * k, k), counts[q]).Finish();
        }
        finally
        {
            ArrayPool<float>.Shared.Return(blockScores);
            ArrayPool<int>.Shared.Return(counts);
        }
    }

    /// <summary>dot(query, row) with the int8 row widened in registers (64 or 32 elements per step).</summary>
    private static float DotInt8(ManagedVariant variant, ReadOnlySpan<float> query, ReadOnlySpan<sbyte> row)
    {
        ref float q = ref MemoryMarshal.GetReference(query);
        ref sbyte w = ref MemoryMarshal.GetReference(row);
        int n = row.Length, i = 0;
        float total = 0;
        if (variant == ManagedVariant.Vector512 && n >= 64)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 64 <= n; i += 64)
            {
                Vector512<sbyte> b = Vector512.LoadUnsafe(ref w, (nuint)i);
                Vector512<short> lo = Vector512.WidenLower(b), hi = Vector512.WidenUpper(b);
                nuint at = (nuint)i;
                a0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Vector512.WidenLower(lo)), Vector512.LoadUnsafe(ref q, at), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Vector512.WidenUpper(lo)), Vector512.LoadUnsafe(ref q, at + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Vector512.WidenLower(hi)), Vector512.LoadUnsafe(ref q, at + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Vector512.WidenUpper(hi)), Vector512.LoadUnsafe(ref q, at + 48), a3);
            }
            total = Vector512.Sum((a0 + a1) + (a2 + a3));
        }
        else if (variant >= ManagedVariant.Vector256 && n >= 32)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 32 <= n; i += 32)
            {
                Vector256<sbyte> b = Vector256.LoadUnsafe(ref w, (nuint)i);
                Vector256<short> lo = Vector256.WidenLower(b), hi = Vector256.WidenUpper(b);
                nuint at = (nuint)i;
                a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Vector256.WidenLower(lo)), Vector256.LoadUnsafe(ref q, at), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Vector256.WidenUpper(lo)), Vector256.LoadUnsafe(ref q, at + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Vector256.WidenLower(hi)), Vector256.LoadUnsafe(ref q, at + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Vector256.WidenUpper(hi)), Vector256.LoadUnsafe(ref q, at + 24), a3);
            }
            total = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; i < n; i++)
            total += query[i] * row[i];
        return total;
    }

    private static void Widen<TElement>(ReadOnlySpan<TElement> source, Span<float> destination)
        where TElement : unmanaged
    {
        if (typeof(TElement) == typeof(sbyte))
            TensorPrimitives.ConvertChecked(MemoryMarshal.Cast<TElement, sbyte>(source), destination);
        else if (typeof(TElement) == typeof(Half))
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<TElement, Half>(source), destination);
        else
            throw new NotSupportedException(typeof(TElement).Name);
    }
}
