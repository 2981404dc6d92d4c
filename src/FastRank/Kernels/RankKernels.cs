using System.Buffers;
using System.Runtime.CompilerServices;
using FastRank.Kernels.Managed;
using Microsoft.Extensions.Logging;
using Native = FastRank.Kernels.Interop.FastRankNative;

namespace FastRank.Kernels;

/// <summary>
/// The kernels FastRank runs after llama.cpp has produced logits or attention: top-k selection,
/// log-sum-exp / gathered log-probabilities / restricted softmax, the ICR attention reduction, span sums,
/// masked calibration and dot products over quantized embeddings fused with top-k.
/// </summary>
/// <remarks>
/// <para>Each call runs in libfastrank_native (C, with scalar / AVX2 / AVX-512 / NEON variants picked from
/// the CPU) when it loads, otherwise in a managed implementation (Vector128/256/512, TensorPrimitives);
/// both follow the same contracts. <see cref="Description"/> says which is active; <see cref="Use"/> forces
/// one on the calling thread; <c>FASTRANK_KERNELS=managed</c> forces managed for the process and
/// <c>FASTRANK_KERNEL_VARIANT=scalar|avx2|avx512|neon</c> the native variant.</para>
/// <para>Ordering of every top-k: value descending, equal values by lower index first, -0 equal to +0, NaN
/// after every number (also after -infinity), NaNs by index. Kernels allocate nothing per call beyond small
/// pooled buffers and are thread-safe.</para>
/// <para>Argument errors throw <see cref="ArgumentException"/> (or a subclass) before any work starts.</para>
/// </remarks>
[SkipLocalsInit]
public static unsafe class RankKernels
{
    private const int StackIndexLimit = 256;

    // ---- selection and reporting ----------------------------------------------------------------------

    /// <summary>True when libfastrank_native loaded with the expected ABI version.</summary>
    public static bool IsNativeAvailable => KernelSelection.NativeAvailable;

    /// <summary>Why libfastrank_native is not used (null when it is available).</summary>
    public static string? NativeUnavailableReason => KernelSelection.NativeUnavailableReason;

    /// <summary>The implementation that a call on this thread uses now.</summary>
    public static KernelImplementation Implementation => KernelSelection.Current;

    /// <summary>The variant a call on this thread uses now: a native variant name (scalar, avx2, avx512, neon)
    /// or a managed one (scalar, vector128, vector256, vector512).</summary>
    public static string Variant => KernelSelection.CurrentVariantName;

    /// <summary>Native variants this CPU and build can run (empty without the native library), best last.</summary>
    public static IReadOnlyList<string> SupportedNativeVariants => KernelSelection.SupportedNativeVariants;

    /// <summary>Managed variants this runtime accelerates, best last ("scalar" is always present).</summary>
    public static IReadOnlyList<string> SupportedManagedVariants => KernelSelection.SupportedManagedVariants;

    /// <summary>
    /// One line for the log: the active CPU implementation and variant (and why, when managed), and the GPU
    /// kernels' state, e.g. <c>native avx512 (libfastrank_native ABI 2); cuda: not available (no CUDA device)</c>.
    /// </summary>
    public static string Description
    {
        get
        {
            string cpu = Implementation == KernelImplementation.Native
                ? $"native {Variant} (libfastrank_native ABI {Native.ExpectedAbiVersion})"
                : $"managed {Variant}" + (KernelSelection.ManagedReason is { } why ? $" ({why})" : "");
            return $"{cpu}; cuda: {CudaKernels.Description}";
        }
    }

    /// <summary>
    /// Writes <see cref="Description"/> at Information level, and a warning when FASTRANK_KERNEL_VARIANT asked
    /// for a variant the native library did not select (unknown or unsupported on this CPU).
    /// </summary>
    public static void LogDescription(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        logger.LogInformation("FastRank kernels: {KernelDescription}", Description);
        string? requested = Environment.GetEnvironmentVariable(KernelSelection.NativeVariantEnvironmentVariable);
        if (IsNativeAvailable && !string.IsNullOrEmpty(requested) && requested != KernelSelection.NativeVariant())
        {
            logger.LogWarning("{Variable}={Requested} was not applied (unknown or unsupported here); native kernels use {Variant}",
                KernelSelection.NativeVariantEnvironmentVariable, requested, KernelSelection.NativeVariant());
        }
    }

    /// <summary>
    /// Forces an implementation (and optionally a variant of it) on the calling thread until the returned
    /// scope is disposed. Tests and benchmarks run each variant through it.
    /// </summary>
    /// <param name="implementation">Native or managed.</param>
    /// <param name="variant">Native: scalar, avx2, avx512, neon; managed: scalar, vector128, vector256,
    /// vector512; null for the best one.</param>
    /// <exception cref="NotSupportedException">The native library is absent, or the variant cannot run here.</exception>
    /// <exception cref="ArgumentException">Unknown variant name.</exception>
    public static KernelScope Use(KernelImplementation implementation, string? variant = null) =>
        KernelSelection.Enter(implementation, variant);

    // ---- top-k ------------------------------------------------------------------------------------------------

    /// <summary>
    /// The <paramref name="k"/> largest of <paramref name="values"/> in rank order; returns
    /// c = min(k, values.Length) and writes c indices (and values, unless <paramref name="topValues"/> is empty).
    /// </summary>
    public static int TopK(ReadOnlySpan<float> values, int k, Span<int> indices, Span<float> topValues = default) =>
        TopKBatched(values, values.IsEmpty ? 0 : 1, values.Length, values.Length, k, indices, topValues);

    /// <summary>
    /// Top-k of each of <paramref name="rows"/> rows of <paramref name="columns"/> values (row r starts at
    /// r * <paramref name="rowStride"/>). Output rows are packed with stride c = min(k, columns), the return
    /// value: indices[r * c + i] is a column index.
    /// </summary>
    public static int TopKBatched(ReadOnlySpan<float> values, int rows, int columns, int rowStride, int k,
        Span<int> indices, Span<float> topValues = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        CheckRows(values.Length, rows, columns, rowStride, nameof(values));
        int c = Math.Min(k, columns);
        if (c == 0 || rows == 0)
            return c;
        long outLength = (long)rows * c;
        RequireLength(indices.Length, outLength, nameof(indices));
        if (!topValues.IsEmpty)
            RequireLength(topValues.Length, outLength, nameof(topValues));
        if (KernelSelection.UseNative)
        {
            int count;
            fixed (float* x = values)
            fixed (int* idx = indices)
            fixed (float* val = topValues)
            {
                NativeStatus.ThrowIfFailed(Native.fr_topk_rows_f32(x, rows, columns, rowStride, k, idx,
                    topValues.IsEmpty ? null : val, &count), nameof(TopKBatched));
            }
            return count;
        }
        ManagedVariant variant = KernelSelection.CurrentManagedVariant;
        float[]? rented = null;
        Span<float> scratch = topValues.IsEmpty
            ? (c <= StackIndexLimit ? stackalloc float[StackIndexLimit] : (rented = ArrayPool<float>.Shared.Rent(c)))
            : default;
        try
        {
            for (int r = 0; r < rows; r++)
            {
                Span<float> val = topValues.IsEmpty ? scratch[..c] : topValues.Slice(r * c, c);
                ManagedKernels.TopKRow(variant, values.Slice(r * rowStride, columns), indices.Slice(r * c, c), val);
            }
        }
        finally
        {
            if (rented is not null)
                ArrayPool<float>.Shared.Return(rented);
        }
        return c;
    }

    // ---- logits ------------------------------------------------------------------------------------------------

    /// <summary>
    /// logSumExp[r] = log(sum_j exp(logits[r, j])), computed as m + log(sum exp(x - m)) with m the row max.
    /// A row containing NaN gives NaN; a row whose max is infinite gives that max.
    /// </summary>
    public static void LogSumExp(ReadOnlySpan<float> logits, int rows, int vocabulary, int rowStride, Span<float> logSumExp)
    {
        CheckLogits(logits, rows, vocabulary, rowStride, []);
        RequireLength(logSumExp.Length, rows, nameof(logSumExp));
        if (rows == 0)
            return;
        if (KernelSelection.UseNative)
        {
            fixed (float* x = logits)
            fixed (float* lse = logSumExp)
                NativeStatus.ThrowIfFailed(Native.fr_logsumexp_rows_f32(x, rows, vocabulary, rowStride, lse), nameof(LogSumExp));
            return;
        }
        for (int r = 0; r < rows; r++)
            logSumExp[r] = ManagedKernels.LogSumExp(logits.Slice(r * rowStride, vocabulary));
    }

    /// <summary>
    /// Log-probabilities of a small set of tokens in each row of logits:
    /// logProbs[r * tokenIds.Length + i] = logits[r, tokenIds[i]] - logSumExp(row r). Optionally also the
    /// row's log-sum-exp. Ids must lie in [0, vocabulary); duplicates are allowed.
    /// </summary>
    public static void GatherLogProbs(ReadOnlySpan<float> logits, int rows, int vocabulary, int rowStride,
        ReadOnlySpan<int> tokenIds, Span<float> logProbs, Span<float> logSumExp = default)
    {
        CheckLogits(logits, rows, vocabulary, rowStride, tokenIds);
        RequireLength(logProbs.Length, (long)rows * tokenIds.Length, nameof(logProbs));
        if (!logSumExp.IsEmpty)
            RequireLength(logSumExp.Length, rows, nameof(logSumExp));
        if (rows == 0)
            return;
        if (KernelSelection.UseNative)
        {
            fixed (float* x = logits)
            fixed (int* ids = tokenIds)
            fixed (float* lp = logProbs)
            fixed (float* lse = logSumExp)
            {
                NativeStatus.ThrowIfFailed(Native.fr_gather_logprobs_f32(x, rows, vocabulary, rowStride, ids, tokenIds.Length,
                    lp, logSumExp.IsEmpty ? null : lse), nameof(GatherLogProbs));
            }
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = logits.Slice(r * rowStride, vocabulary);
            float lse = ManagedKernels.LogSumExp(row);
            if (!logSumExp.IsEmpty)
                logSumExp[r] = lse;
            for (int i = 0; i < tokenIds.Length; i++)
                logProbs[(r * tokenIds.Length) + i] = row[tokenIds[i]] - lse;
        }
    }

    /// <summary>
    /// Softmax over the gathered logits only (no pass over the vocabulary), in double:
    /// probabilities[r * n + i] = exp(x_i - m) / sum_j exp(x_j - m) with x_i = logits[r, tokenIds[i]].
    /// A row whose set holds NaN or an infinity gets NaN everywhere.
    /// </summary>
    public static void RestrictedSoftmax(ReadOnlySpan<float> logits, int rows, int vocabulary, int rowStride,
        ReadOnlySpan<int> tokenIds, Span<float> probabilities)
    {
        CheckLogits(logits, rows, vocabulary, rowStride, tokenIds);
        RequireLength(probabilities.Length, (long)rows * tokenIds.Length, nameof(probabilities));
        if (rows == 0 || tokenIds.IsEmpty)
            return;
        if (KernelSelection.UseNative)
        {
            fixed (float* x = logits)
            fixed (int* ids = tokenIds)
            fixed (float* p = probabilities)
            {
                NativeStatus.ThrowIfFailed(Native.fr_restricted_softmax_f32(x, rows, vocabulary, rowStride, ids, tokenIds.Length, p),
                    nameof(RestrictedSoftmax));
            }
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            ManagedKernels.RestrictedSoftmax(logits.Slice(r * rowStride, vocabulary), tokenIds,
                probabilities.Slice(r * tokenIds.Length, tokenIds.Length));
        }
    }

    // ---- attention (ICR) ----------------------------------------------------------------------------------------

    /// <summary>
    /// Adds one layer's attention to a per-cell accumulator:
    /// accumulator[c] += scale * sum over heads h and rows t in [rowStart, rowEnd) of p(c, t, h, stream),
    /// for the tensor in <paramref name="probabilities"/> (its first element at index 0).
    /// </summary>
    public static void AccumulateAttention(ReadOnlySpan<float> probabilities, in AttentionTensorLayout layout,
        int rowStart, int rowEnd, int stream, float scale, Span<float> accumulator)
    {
        if (layout.ExtentBytes > (long)probabilities.Length * sizeof(float))
            throw new ArgumentException($"The layout {layout} reaches {layout.ExtentBytes} bytes, past the {probabilities.Length} floats given.", nameof(probabilities));
        if (((layout.CellStride | layout.TokenStride | layout.HeadStride | layout.StreamStride) & 3) != 0)
            throw new ArgumentException("Strides into a float span must be multiples of 4 bytes.", nameof(layout));
        fixed (float* data = probabilities)
            AccumulateAttention(data, layout, rowStart, rowEnd, stream, scale, accumulator);
    }

    /// <summary>
    /// Adds one layer's attention to a per-cell accumulator, reading the tensor from host memory at
    /// <paramref name="data"/>: the <c>data</c> of a <c>kq_soft_max-L</c> ggml tensor in a CPU buffer, as the
    /// llama.cpp eval callback sees it (for tensors in GPU memory use <see cref="CudaAttentionAccumulator"/>).
    /// accumulator[c] += scale * sum over heads h and rows t in [rowStart, rowEnd) of p(c, t, h, stream).
    /// The caller guarantees that <paramref name="layout"/> describes memory it may read.
    /// </summary>
    public static void AccumulateAttention(void* data, in AttentionTensorLayout layout, int rowStart, int rowEnd,
        int stream, float scale, Span<float> accumulator)
    {
        CheckAttention(data, layout, rowStart, rowEnd, stream, accumulator.Length);
        if (layout.Cells == 0 || rowStart == rowEnd || layout.Heads == 0)
            return;
        if (KernelSelection.UseNative)
        {
            long* ne = stackalloc long[4];
            long* nb = stackalloc long[4];
            layout.CopyTo(new Span<long>(ne, 4), new Span<long>(nb, 4));
            fixed (float* acc = accumulator)
            {
                NativeStatus.ThrowIfFailed(Native.fr_attn_accumulate_f32(data, ne, nb, rowStart, rowEnd, stream, scale, acc),
                    nameof(AccumulateAttention));
            }
            return;
        }
        ManagedKernels.AccumulateAttention(KernelSelection.CurrentManagedVariant, (byte*)data, layout, rowStart, rowEnd,
            stream, scale, accumulator);
    }

    /// <summary>
    /// sums[i] = sum of values over spans[i]; spans must lie inside values. The error stays below about
    /// 2^-21 * sum|values| whatever the span length (blocks of eight vectors summed pairwise in float, blocks added in double).
    /// </summary>
    public static void SpanSums(ReadOnlySpan<float> values, ReadOnlySpan<IndexRange> spans, Span<float> sums)
    {
        CheckRanges(values.Length, spans, nameof(spans));
        RequireLength(sums.Length, spans.Length, nameof(sums));
        if (spans.IsEmpty)
            return;
        if (KernelSelection.UseNative)
        {
            fixed (float* v = values)
            fixed (IndexRange* s = spans)
            fixed (float* o = sums)
                NativeStatus.ThrowIfFailed(Native.fr_span_sums_f32(v, values.Length, s, spans.Length, o), nameof(SpanSums));
            return;
        }
        ManagedKernels.SpanSums(KernelSelection.CurrentManagedVariant, values, spans, sums);
    }

    /// <summary>
    /// ICR masked calibration (METHODS.md section 3), per document range d:
    /// c_t = queryScores[t] - naScores[t]; threshold = mean(c) - 2 std(c) (std with N - 1);
    /// scores[d] = sum of c_t over t in d with c_t &gt; threshold. Computed in double.
    /// Edge rules: an empty document scores 0; a one-token document scores its c (std undefined, threshold
    /// taken as -infinity); a document whose c are all equal scores 0 (nothing exceeds the mean); any
    /// non-finite c gives NaN.
    /// </summary>
    public static void MaskedCalibration(ReadOnlySpan<float> queryScores, ReadOnlySpan<float> naScores,
        ReadOnlySpan<IndexRange> documents, Span<float> scores)
    {
        if (queryScores.Length != naScores.Length)
            throw new ArgumentException($"queryScores has {queryScores.Length} values, naScores {naScores.Length}.", nameof(naScores));
        CheckRanges(queryScores.Length, documents, nameof(documents));
        RequireLength(scores.Length, documents.Length, nameof(scores));
        if (documents.IsEmpty)
            return;
        if (KernelSelection.UseNative)
        {
            fixed (float* q = queryScores)
            fixed (float* na = naScores)
            fixed (IndexRange* d = documents)
            fixed (float* o = scores)
            {
                NativeStatus.ThrowIfFailed(Native.fr_masked_calibration_f32(q, na, queryScores.Length, d, documents.Length, o),
                    nameof(MaskedCalibration));
            }
            return;
        }
        for (int i = 0; i < documents.Length; i++)
        {
            Range r = documents[i].Start..documents[i].End;
            scores[i] = ManagedKernels.CalibrationScore(queryScores[r], naScores[r]);
        }
    }

    // ---- embeddings ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Symmetric per-row int8 quantization: rowScales[r] = max |row r| / 127 and
    /// quantized = round(row / scale) (a zero row gets scale 0). The input of the int8 overloads of
    /// <see cref="QuantizedDotProducts(ReadOnlySpan{float}, int, ReadOnlySpan{sbyte}, ReadOnlySpan{float}, Span{float})"/>
    /// and <see cref="QuantizedTopK(ReadOnlySpan{float}, int, ReadOnlySpan{sbyte}, ReadOnlySpan{float}, int, Span{int}, Span{float})"/>.
    /// </summary>
    public static void QuantizeRows(ReadOnlySpan<float> rows, int dimension, Span<sbyte> quantized, Span<float> rowScales)
    {
        int rowCount = CheckMatrix(rows.Length, dimension, nameof(rows));
        RequireLength(quantized.Length, rows.Length, nameof(quantized));
        RequireLength(rowScales.Length, rowCount, nameof(rowScales));
        for (int r = 0; r < rowCount; r++)
        {
            ReadOnlySpan<float> row = rows.Slice(r * dimension, dimension);
            float maxAbs = System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(row);
            maxAbs = Math.Abs(maxAbs);
            if (!float.IsFinite(maxAbs))
                throw new ArgumentException($"Row {r} holds a non-finite value.", nameof(rows));
            float scale = maxAbs / 127f;
            rowScales[r] = scale;
            Span<sbyte> q = quantized.Slice(r * dimension, dimension);
            if (scale == 0)
            {
                q.Clear();
                continue;
            }
            float inverse = 1f / scale;
            for (int i = 0; i < dimension; i++)
                q[i] = (sbyte)Math.Clamp(MathF.Round(row[i] * inverse), -127f, 127f);
        }
    }

    /// <summary>
    /// scores[q * rowCount + r] = rowScales[r] * dot(query q, row r) for int8 rows with one scale per row
    /// (<see cref="QuantizeRows"/>). queries: queryCount contiguous vectors of <paramref name="dimension"/>;
    /// rows: rowCount contiguous vectors.
    /// </summary>
    public static void QuantizedDotProducts(ReadOnlySpan<float> queries, int dimension, ReadOnlySpan<sbyte> rows,
        ReadOnlySpan<float> rowScales, Span<float> scores)
    {
        (int queryCount, int rowCount) = CheckEmbeddings(queries, dimension, rows.Length, rowScales.Length, true);
        RequireLength(scores.Length, (long)queryCount * rowCount, nameof(scores));
        if (queryCount == 0 || rowCount == 0)
            return;
        if (KernelSelection.UseNative)
        {
            fixed (float* q = queries)
            fixed (sbyte* m = rows)
            fixed (float* s = rowScales)
            fixed (float* o = scores)
            {
                NativeStatus.ThrowIfFailed(Native.fr_dot_rows_q8_f32(q, queryCount, dimension, m, dimension, s, rowCount, o),
                    nameof(QuantizedDotProducts));
            }
            return;
        }
        ManagedKernels.DotRows(KernelSelection.CurrentManagedVariant, queries, dimension, rows, rowScales, scores);
    }

    /// <summary>scores[q * rowCount + r] = dot(query q, row r) for IEEE half-precision rows.</summary>
    public static void QuantizedDotProducts(ReadOnlySpan<float> queries, int dimension, ReadOnlySpan<Half> rows,
        Span<float> scores)
    {
        (int queryCount, int rowCount) = CheckEmbeddings(queries, dimension, rows.Length, 0, false);
        RequireLength(scores.Length, (long)queryCount * rowCount, nameof(scores));
        if (queryCount == 0 || rowCount == 0)
            return;
        if (KernelSelection.UseNative)
        {
            fixed (float* q = queries)
            fixed (Half* m = rows)
            fixed (float* o = scores)
            {
                NativeStatus.ThrowIfFailed(Native.fr_dot_rows_f16_f32(q, queryCount, dimension, m, dimension, rowCount, o),
                    nameof(QuantizedDotProducts));
            }
            return;
        }
        ManagedKernels.DotRows(KernelSelection.CurrentManagedVariant, queries, dimension, rows, [], scores);
    }

    /// <summary>
    /// For each query, the c = min(k, rowCount) int8 rows (per-row scale) with the largest dot product, in rank
    /// order, packed with stride c (the return value): indices[q * c + i]; scores likewise unless empty.
    /// </summary>
    public static int QuantizedTopK(ReadOnlySpan<float> queries, int dimension, ReadOnlySpan<sbyte> rows,
        ReadOnlySpan<float> rowScales, int k, Span<int> indices, Span<float> scores = default)
    {
        (int queryCount, int rowCount) = CheckEmbeddings(queries, dimension, rows.Length, rowScales.Length, true);
        int c = CheckTopKOutput(k, rowCount, queryCount, indices, scores);
        if (c == 0 || queryCount == 0)
            return c;
        if (KernelSelection.UseNative)
        {
            int count;
            fixed (float* q = queries)
            fixed (sbyte* m = rows)
            fixed (float* s = rowScales)
            fixed (int* idx = indices)
            fixed (float* o = scores)
            {
                NativeStatus.ThrowIfFailed(Native.fr_topk_dot_q8_f32(q, queryCount, dimension, m, dimension, s, rowCount, k, idx,
                    scores.IsEmpty ? null : o, &count), nameof(QuantizedTopK));
            }
            return count;
        }
        ManagedTopKDot(queries, dimension, rows, rowScales, c, queryCount, indices, scores);
        return c;
    }

    /// <summary>The half-precision form of <see cref="QuantizedTopK(ReadOnlySpan{float}, int, ReadOnlySpan{sbyte}, ReadOnlySpan{float}, int, Span{int}, Span{float})"/>.</summary>
    public static int QuantizedTopK(ReadOnlySpan<float> queries, int dimension, ReadOnlySpan<Half> rows, int k,
        Span<int> indices, Span<float> scores = default)
    {
        (int queryCount, int rowCount) = CheckEmbeddings(queries, dimension, rows.Length, 0, false);
        int c = CheckTopKOutput(k, rowCount, queryCount, indices, scores);
        if (c == 0 || queryCount == 0)
            return c;
        if (KernelSelection.UseNative)
        {
            int count;
            fixed (float* q = queries)
            fixed (Half* m = rows)
            fixed (int* idx = indices)
            fixed (float* o = scores)
            {
                NativeStatus.ThrowIfFailed(Native.fr_topk_dot_f16_f32(q, queryCount, dimension, m, dimension, rowCount, k, idx,
                    scores.IsEmpty ? null : o, &count), nameof(QuantizedTopK));
            }
            return count;
        }
        ManagedTopKDot(queries, dimension, rows, [], c, queryCount, indices, scores);
        return c;
    }

    private static void ManagedTopKDot<TElement>(ReadOnlySpan<float> queries, int dimension, ReadOnlySpan<TElement> rows,
        ReadOnlySpan<float> scales, int c, int queryCount, Span<int> indices, Span<float> scores)
        where TElement : unmanaged
    {
        float[]? rented = scores.IsEmpty ? ArrayPool<float>.Shared.Rent(c * queryCount) : null;
        try
        {
            Span<float> values = rented is null ? scores : rented.AsSpan(0, c * queryCount);
            ManagedKernels.TopKDot(KernelSelection.CurrentManagedVariant, queries, dimension, rows, scales, c, indices, values);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<float>.Shared.Return(rented);
        }
    }

    // ---- validation: the same checks for both implementations, before any work ----------------------------------

    private static void RequireLength(int actual, long required, string name)
    {
        if (actual < required)
            throw new ArgumentException($"{name} has {actual} elements; {required} are needed.", name);
    }

    private static void CheckRows(int length, int rows, int columns, int rowStride, string name)
    {
        if (rows > 1 && rowStride < columns)
            throw new ArgumentOutOfRangeException(nameof(rowStride), rowStride, $"The row stride must be at least {columns} columns.");
        long needed = rows == 0 ? 0 : ((long)(rows - 1) * rowStride) + columns;
        RequireLength(length, needed, name);
    }

    private static void CheckLogits(ReadOnlySpan<float> logits, int rows, int vocabulary, int rowStride, ReadOnlySpan<int> ids)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabulary, 1);
        CheckRows(logits.Length, rows, vocabulary, rowStride, nameof(logits));
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)vocabulary)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"Token id at {i} is outside the vocabulary [0, {vocabulary}).");
        }
    }

    private static void CheckAttention(void* data, in AttentionTensorLayout layout, int rowStart, int rowEnd, int stream, int accumulatorLength)
    {
        if (rowStart < 0 || rowStart > rowEnd || rowEnd > layout.Tokens)
            throw new ArgumentOutOfRangeException(nameof(rowStart), $"Rows [{rowStart}, {rowEnd}) are outside [0, {layout.Tokens}).");
        if (stream < 0 || stream >= layout.Streams)
            throw new ArgumentOutOfRangeException(nameof(stream), stream, $"The tensor has {layout.Streams} streams.");
        if (layout.Cells > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(layout), "More than int.MaxValue cells.");
        RequireLength(accumulatorLength, layout.Cells, "accumulator");
        if (data == null && layout.Cells > 0 && layout.Heads > 0 && rowStart < rowEnd)
            throw new ArgumentNullException(nameof(data));
    }

    private static void CheckRanges(int length, ReadOnlySpan<IndexRange> ranges, string name)
    {
        for (int i = 0; i < ranges.Length; i++)
        {
            IndexRange r = ranges[i];
            if (r.Start < 0 || r.Start > r.End || r.End > length)
                throw new ArgumentOutOfRangeException(name, $"Range {i} = [{r.Start}, {r.End}) is not inside [0, {length}).");
        }
    }

    private static int CheckMatrix(int length, int dimension, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (length % dimension != 0)
            throw new ArgumentException($"{name} has {length} elements, not a multiple of the dimension {dimension}.", name);
        return length / dimension;
    }

    private static (int Queries, int Rows) CheckEmbeddings(ReadOnlySpan<float> queries, int dimension, int rowElements,
        int scaleCount, bool needsScales)
    {
        int queryCount = CheckMatrix(queries.Length, dimension, nameof(queries));
        int rowCount = CheckMatrix(rowElements, dimension, "rows");
        if (needsScales && scaleCount != rowCount)
            throw new ArgumentException($"rowScales has {scaleCount} values for {rowCount} rows.", "rowScales");
        return (queryCount, rowCount);
    }

    private static int CheckTopKOutput(int k, int rowCount, int queryCount, Span<int> indices, Span<float> scores)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        int c = Math.Min(k, rowCount);
        RequireLength(indices.Length, (long)c * queryCount, nameof(indices));
        if (!scores.IsEmpty)
            RequireLength(scores.Length, (long)c * queryCount, nameof(scores));
        return c;
    }
}
