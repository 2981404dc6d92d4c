/* FastRank native kernels: a flat C API.
 *
 * Every function except fr_abi_version returns an fr_status; no C++ exception or longjmp crosses this
 * boundary. On failure a message for the calling thread is available from fr_last_error.
 *
 * Conventions shared by all kernels:
 *  - Pointers need no particular alignment. Row strides are in elements unless named *_bytes.
 *  - Float ordering (top-k): descending value; equal values keep the lower index first; -0 == +0;
 *    NaN ranks below every number (also below -inf), NaNs among themselves by index.
 *  - Kernels run on the calling thread and keep no state between calls; they are thread-safe.
 *  - The implementation variant (scalar, avx2, avx512, neon) is chosen at first use from the CPU's
 *    features; FASTRANK_KERNEL_VARIANT=scalar|avx2|avx512|neon forces one at that moment, and
 *    fr_set_kernel_variant / fr_set_thread_kernel_variant change it later. */
#ifndef FASTRANK_H
#define FASTRANK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define FR_API __declspec(dllexport)
#else
#  define FR_API __attribute__((visibility("default")))
#endif

typedef enum fr_status {
    FR_OK = 0,
    FR_ERR_NULL_ARGUMENT = 1,
    FR_ERR_INVALID_ARGUMENT = 2,
    FR_ERR_UNSUPPORTED = 3,
    FR_ERR_DEVICE = 4,
    FR_ERR_OUT_OF_MEMORY = 5
} fr_status;

/* ABI version of this library; the managed side refuses a library whose version differs.
 * 2: kernels, variants, fr_last_error, FR_ERR_OUT_OF_MEMORY. */
#define FR_ABI_VERSION 2
FR_API int32_t fr_abi_version(void);

/* A half-open range [start, end) of positions in a per-token (per-cell) vector. */
typedef struct fr_range {
    int32_t start;
    int32_t end;
} fr_range;

/* ---- errors and variants ------------------------------------------------------------------ */

/* Message describing the last failure on this thread ("" if none). The string stays valid until
 * the next failing call on the same thread. */
FR_API fr_status fr_last_error(const char** message);

/* Name of the variant a kernel call on this thread would use now: "scalar", "avx2", "avx512" or
 * "neon". The string is static. */
FR_API fr_status fr_kernel_variant(const char** name);

/* *supported = 1 if this CPU and build can run the named variant, else 0 (unknown names: 0). */
FR_API fr_status fr_kernel_variant_supported(const char* name, int32_t* supported);

/* Process-wide variant; "auto" (or NULL) picks the best supported one. FR_ERR_UNSUPPORTED if the CPU
 * or build cannot run it, FR_ERR_INVALID_ARGUMENT for an unknown name. */
FR_API fr_status fr_set_kernel_variant(const char* name);

/* Variant for the calling thread only, overriding the process-wide one (tests and benchmarks run
 * variants side by side with it); NULL or "" removes the override. */
FR_API fr_status fr_set_thread_kernel_variant(const char* name);

/* ---- top-k ---------------------------------------------------------------------------------- */

/* The k best of x[0..n) in rank order. Writes c = min(k, n) entries to out_idx and, unless it is
 * NULL, to out_val; *out_count = c. n == 0 gives c == 0. Requires k >= 0, n < 2^31. */
FR_API fr_status fr_topk_f32(const float* x, int64_t n, int32_t k,
                             int32_t* out_idx, float* out_val, int32_t* out_count);

/* Top-k of each of n_rows rows (row r starts at x + r * row_stride, row_stride >= n_cols). Output
 * rows are packed with stride c = min(k, n_cols): out_idx[r * c + i]; *out_count = c. Indices are
 * column indices within the row. */
FR_API fr_status fr_topk_rows_f32(const float* x, int64_t n_rows, int64_t n_cols, int64_t row_stride,
                                  int32_t k, int32_t* out_idx, float* out_val, int32_t* out_count);

/* ---- logits: log-sum-exp, gathered log-probabilities, restricted softmax -------------------- */

/* out_lse[r] = log(sum_j exp(x[r, j])) computed as m + log(sum exp(x - m)), m = max of the row.
 * A row containing NaN gives NaN; a row whose max is +inf or -inf gives that max. n_vocab >= 1. */
FR_API fr_status fr_logsumexp_rows_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                       int64_t row_stride, float* out_lse);

/* out_logprobs[r * n_ids + i] = x[r, ids[i]] - lse(r) (IEEE arithmetic, so +inf - +inf is NaN).
 * out_lse (may be NULL) receives lse(r). Every id must be in [0, n_vocab). */
FR_API fr_status fr_gather_logprobs_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                        int64_t row_stride, const int32_t* ids, int32_t n_ids,
                                        float* out_logprobs, float* out_lse);

/* Softmax over the n_ids gathered logits only: out_probs[r * n_ids + i] =
 * exp(x[r, ids[i]] - m) / sum_j exp(x[r, ids[j]] - m), m = max over the set. This needs no pass over
 * the vocabulary (computed in double). A row whose set contains NaN or an infinity gets NaN for every
 * entry: the limit is not defined by the values alone, and every implementation agrees on NaN. */
FR_API fr_status fr_restricted_softmax_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                           int64_t row_stride, const int32_t* ids, int32_t n_ids,
                                           float* out_probs);

/* ---- attention reduction (ICR) ---------------------------------------------------------------- */

/* data holds one layer's attention probabilities as llama.cpp's kq_soft_max-L tensor: f32,
 * ne = [n_kv, n_tokens, n_head, n_stream], byte strides nb[4] (element (c, t, h, s) at
 * data + c*nb[0] + t*nb[1] + h*nb[2] + s*nb[3]). For every cell c:
 *     acc[c] += scale * sum_{h < n_head} sum_{row0 <= t < row1} p(c, t, h, stream).
 * acc has ne[0] floats. Requires 0 <= row0 <= row1 <= ne[1], 0 <= stream < ne[3], nb >= 0; any
 * strides are accepted, nb[0] == 4 takes the vectorised path. */
FR_API fr_status fr_attn_accumulate_f32(const void* data, const int64_t* ne, const int64_t* nb,
                                        int64_t row0, int64_t row1, int64_t stream, float scale,
                                        float* acc);

/* out[i] = sum of values[spans[i].start .. spans[i].end). Spans must lie in [0, n]; an empty span sums
 * to 0. Error below about 2^-21 * sum|values| whatever the span length (blocks of eight vectors summed
 * pairwise in float, blocks accumulated in double; the scalar variant accumulates in double). */
FR_API fr_status fr_span_sums_f32(const float* values, int64_t n, const fr_range* spans,
                                  int64_t n_spans, float* out);

/* ICR masked calibration (METHODS.md section 3), per document span d:
 *     c_t = s_q[t] - s_na[t] (in double), threshold = mean(c) - 2 * std(c) (std with N - 1),
 *     score(d) = sum of c_t over t in d with c_t > threshold.
 * Edge cases, identical in every variant: N == 0 gives 0; N == 1 gives c (std is undefined, the
 * threshold is taken as -inf); N >= 2 with all c equal gives 0 (std == 0, nothing exceeds the mean,
 * decided exactly rather than by rounding); any non-finite c gives NaN. */
FR_API fr_status fr_masked_calibration_f32(const float* s_q, const float* s_na, int64_t n,
                                           const fr_range* docs, int64_t n_docs, float* out_scores);

/* ---- embeddings: dot products fused with top-k ------------------------------------------------ */

/* Int8 rows with one float scale per row (symmetric, per-row: value = scale * q). Per-row rather than
 * ggml's per-32 blocks because embedding rows are usually normalised, so one scale loses little and
 * the dot product needs one multiply per row instead of one per block. Row r starts at
 * rows + r * row_stride_bytes. queries: n_queries contiguous f32 vectors of dim.
 * out_scores[q * n_rows + r] = scale[r] * dot(query q, row r). */
FR_API fr_status fr_dot_rows_q8_f32(const float* queries, int64_t n_queries, int64_t dim,
                                    const int8_t* rows, int64_t row_stride_bytes, const float* scales,
                                    int64_t n_rows, float* out_scores);

/* The same with IEEE binary16 rows (row_stride in elements). */
FR_API fr_status fr_dot_rows_f16_f32(const float* queries, int64_t n_queries, int64_t dim,
                                     const uint16_t* rows, int64_t row_stride, int64_t n_rows,
                                     float* out_scores);

/* Dot products fused with top-k: for each query the c = min(k, n_rows) best rows, packed with stride
 * c (out_idx[q * c + i]); out_scores may be NULL; *out_count = c. Same ordering rules as fr_topk_f32. */
FR_API fr_status fr_topk_dot_q8_f32(const float* queries, int64_t n_queries, int64_t dim,
                                    const int8_t* rows, int64_t row_stride_bytes, const float* scales,
                                    int64_t n_rows, int32_t k, int32_t* out_idx, float* out_scores,
                                    int32_t* out_count);

FR_API fr_status fr_topk_dot_f16_f32(const float* queries, int64_t n_queries, int64_t dim,
                                     const uint16_t* rows, int64_t row_stride, int64_t n_rows,
                                     int32_t k, int32_t* out_idx, float* out_scores,
                                     int32_t* out_count);

#ifdef __cplusplus
}
#endif
#endif
