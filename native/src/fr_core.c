/* The C API: argument validation, variant dispatch and error reporting. Kernels in the variant tables
 * see only validated, well-formed input; every check and every error message lives here. */
#include "fr_internal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(_MSC_VER)
#  define FR_TLS __declspec(thread)
#else
#  define FR_TLS _Thread_local
#endif

FR_API int32_t fr_abi_version(void) { return FR_ABI_VERSION; }

/* ---- errors ------------------------------------------------------------------------------------ */

static FR_TLS char tls_error[256];

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static fr_status fr_fail(fr_status status, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    va_end(ap);
    return status;
}

#define FR_NOT_NULL(p) \
    do { if ((p) == NULL) return fr_fail(FR_ERR_NULL_ARGUMENT, "%s: %s is NULL", __func__, #p); } while (0)
#define FR_REQUIRE(cond, ...) \
    do { if (!(cond)) return fr_fail(FR_ERR_INVALID_ARGUMENT, __VA_ARGS__); } while (0)

FR_API fr_status fr_last_error(const char** message) {
    FR_NOT_NULL(message);
    *message = tls_error;
    return FR_OK;
}

/* ---- CPU features and variant selection ------------------------------------------------------------ */

#if defined(FR_HAVE_X86_VARIANTS)
#include <cpuid.h>

/* Own cpuid/xgetbv rather than __builtin_cpu_supports: the feature names it accepts differ between
 * compiler versions (f16c), and the OS must have enabled the AVX / AVX-512 register state (XCR0). */
static uint64_t fr_xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static int fr_cpu_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c)) return 0;
    if ((fr_xgetbv0() & 0x6) != 0x6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}

static int fr_cpu_avx512(void) {
    unsigned a, b, c, d;
    if (!fr_cpu_avx2()) return 0;
    if ((fr_xgetbv0() & 0xE6) != 0xE6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    return f && dq && bw && vl;
}
#endif

/* Every variant this build has, best last. */
static const fr_kernels* const fr_all_variants[] = {
    &fr_kernels_generic,
#if defined(FR_HAVE_NEON_VARIANT)
    &fr_kernels_neon,
#endif
#if defined(FR_HAVE_X86_VARIANTS)
    &fr_kernels_avx2,
    &fr_kernels_avx512,
#endif
};
#define FR_VARIANT_COUNT ((int)(sizeof fr_all_variants / sizeof fr_all_variants[0]))

#if defined(FR_HAVE_X86_VARIANTS)
/* cpuid traps to the hypervisor in a VM (tens of microseconds), and variant checks run on every
 * fr_set_thread_kernel_variant, so the answers are computed once. 0 = not yet known; racing threads
 * store the same value. */
static _Atomic int fr_cpu_features;
enum { FR_FEATURES_KNOWN = 1, FR_FEATURE_AVX2 = 2, FR_FEATURE_AVX512 = 4 };

static int fr_features(void) {
    int f = atomic_load_explicit(&fr_cpu_features, memory_order_relaxed);
    if (f == 0) {
        f = FR_FEATURES_KNOWN | (fr_cpu_avx2() ? FR_FEATURE_AVX2 : 0) | (fr_cpu_avx512() ? FR_FEATURE_AVX512 : 0);
        atomic_store_explicit(&fr_cpu_features, f, memory_order_relaxed);
    }
    return f;
}
#endif

static int fr_variant_runs_here(const fr_kernels* k) {
#if defined(FR_HAVE_X86_VARIANTS)
    if (k == &fr_kernels_avx2) return (fr_features() & FR_FEATURE_AVX2) != 0;
    if (k == &fr_kernels_avx512) return (fr_features() & FR_FEATURE_AVX512) != 0;
#endif
    (void)k;
    return 1;
}

static const fr_kernels* fr_variant_named(const char* name) {
    for (int i = 0; i < FR_VARIANT_COUNT; ++i)
        if (strcmp(fr_all_variants[i]->name, name) == 0) return fr_all_variants[i];
    return NULL;
}

static int fr_known_variant_name(const char* name) {
    return strcmp(name, "scalar") == 0 || strcmp(name, "avx2") == 0 || strcmp(name, "avx512") == 0 ||
           strcmp(name, "neon") == 0;
}

static const fr_kernels* fr_best_variant(void) {
    for (int i = FR_VARIANT_COUNT - 1; i > 0; --i)
        if (fr_variant_runs_here(fr_all_variants[i])) return fr_all_variants[i];
    return &fr_kernels_generic;
}

static _Atomic(const fr_kernels*) fr_process_variant;
static FR_TLS const fr_kernels* tls_variant;

/* Chosen once, at the first kernel call: FASTRANK_KERNEL_VARIANT if it names a variant this CPU runs,
 * else the best one. A bad value is not an error here (nothing could report it); the managed side
 * compares the variable with fr_kernel_variant and logs the difference. Racing first calls compute
 * the same answer, so a plain compare-exchange is enough. */
static const fr_kernels* fr_selected(void) {
    const fr_kernels* t = tls_variant;
    if (t != NULL) return t;
    const fr_kernels* k = atomic_load_explicit(&fr_process_variant, memory_order_acquire);
    if (k != NULL) return k;
    const fr_kernels* chosen = fr_best_variant();
    const char* env = getenv("FASTRANK_KERNEL_VARIANT");
    if (env != NULL && env[0] != '\0') {
        const fr_kernels* forced = fr_variant_named(env);
        if (forced != NULL && fr_variant_runs_here(forced)) chosen = forced;
    }
    const fr_kernels* expected = NULL;
    if (!atomic_compare_exchange_strong(&fr_process_variant, &expected, chosen)) chosen = expected;
    return chosen;
}

FR_API fr_status fr_kernel_variant(const char** name) {
    FR_NOT_NULL(name);
    *name = fr_selected()->name;
    return FR_OK;
}

FR_API fr_status fr_kernel_variant_supported(const char* name, int32_t* supported) {
    FR_NOT_NULL(name);
    FR_NOT_NULL(supported);
    const fr_kernels* k = fr_variant_named(name);
    *supported = k != NULL && fr_variant_runs_here(k);
    return FR_OK;
}

static fr_status fr_resolve_variant(const char* name, const fr_kernels** out) {
    if (!fr_known_variant_name(name))
        return fr_fail(FR_ERR_INVALID_ARGUMENT, "unknown kernel variant '%.64s' (scalar, avx2, avx512, neon)", name);
    const fr_kernels* k = fr_variant_named(name);
    if (k == NULL || !fr_variant_runs_here(k))
        return fr_fail(FR_ERR_UNSUPPORTED, "kernel variant '%s' is not supported by this CPU or build", name);
    *out = k;
    return FR_OK;
}

FR_API fr_status fr_set_kernel_variant(const char* name) {
    const fr_kernels* k = NULL;
    if (name == NULL || name[0] == '\0' || strcmp(name, "auto") == 0) {
        k = fr_best_variant();
    } else {
        fr_status s = fr_resolve_variant(name, &k);
        if (s != FR_OK) return s;
    }
    atomic_store_explicit(&fr_process_variant, k, memory_order_release);
    return FR_OK;
}

FR_API fr_status fr_set_thread_kernel_variant(const char* name) {
    if (name == NULL || name[0] == '\0') {
        tls_variant = NULL;
        return FR_OK;
    }
    const fr_kernels* k = NULL;
    fr_status s = fr_resolve_variant(name, &k);
    if (s != FR_OK) return s;
    tls_variant = k;
    return FR_OK;
}

/* ---- top-k ------------------------------------------------------------------------------------------ */

FR_API fr_status fr_topk_f32(const float* x, int64_t n, int32_t k, int32_t* out_idx, float* out_val,
                             int32_t* out_count) {
    return fr_topk_rows_f32(x, n > 0 ? 1 : 0, n, n, k, out_idx, out_val, out_count);
}

FR_API fr_status fr_topk_rows_f32(const float* x, int64_t n_rows, int64_t n_cols, int64_t row_stride,
                                  int32_t k, int32_t* out_idx, float* out_val, int32_t* out_count) {
    FR_NOT_NULL(out_count);
    FR_REQUIRE(n_rows >= 0 && n_cols >= 0, "fr_topk: negative shape (%lld rows, %lld columns)",
               (long long)n_rows, (long long)n_cols);
    FR_REQUIRE(n_cols <= INT32_MAX, "fr_topk: %lld columns exceed int32 indices", (long long)n_cols);
    FR_REQUIRE(k >= 0, "fr_topk: k = %d is negative", k);
    FR_REQUIRE(n_rows <= 1 || row_stride >= n_cols, "fr_topk: row stride %lld < %lld columns",
               (long long)row_stride, (long long)n_cols);
    int32_t c = (int64_t)k < n_cols ? k : (int32_t)n_cols;
    if (c == 0 || n_rows == 0) {
        *out_count = c;
        return FR_OK;
    }
    FR_NOT_NULL(x);
    FR_NOT_NULL(out_idx);
    float* val = out_val;
    float* scratch = NULL;
    if (val == NULL) {
        scratch = (float*)malloc((size_t)c * sizeof(float));
        if (scratch == NULL) return fr_fail(FR_ERR_OUT_OF_MEMORY, "fr_topk: cannot allocate %d floats", c);
    }
    const fr_kernels* kern = fr_selected();
    for (int64_t r = 0; r < n_rows; ++r)
        kern->topk_row(x + r * row_stride, n_cols, c, out_idx + r * c, val ? val + r * c : scratch);
    free(scratch);
    *out_count = c;
    return FR_OK;
}

/* ---- logits ----------------------------------------------------------------------------------------- */

static fr_status fr_check_logits(const char* fn, const float* logits, int64_t n_rows, int64_t n_vocab,
                                 int64_t row_stride, const int32_t* ids, int32_t n_ids) {
    FR_REQUIRE(n_rows >= 0, "%s: n_rows = %lld is negative", fn, (long long)n_rows);
    FR_REQUIRE(n_vocab >= 1, "%s: n_vocab = %lld must be at least 1", fn, (long long)n_vocab);
    FR_REQUIRE(n_rows <= 1 || row_stride >= n_vocab, "%s: row stride %lld < vocabulary %lld", fn,
               (long long)row_stride, (long long)n_vocab);
    FR_REQUIRE(n_ids >= 0, "%s: n_ids = %d is negative", fn, n_ids);
    if (n_rows > 0 && logits == NULL) return fr_fail(FR_ERR_NULL_ARGUMENT, "%s: logits is NULL", fn);
    if (n_ids > 0 && ids == NULL) return fr_fail(FR_ERR_NULL_ARGUMENT, "%s: ids is NULL", fn);
    for (int32_t i = 0; i < n_ids; ++i)
        FR_REQUIRE(ids[i] >= 0 && ids[i] < n_vocab, "%s: ids[%d] = %d is outside the vocabulary [0, %lld)", fn,
                   i, ids[i], (long long)n_vocab);
    return FR_OK;
}

FR_API fr_status fr_logsumexp_rows_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                       int64_t row_stride, float* out_lse) {
    fr_status s = fr_check_logits("fr_logsumexp_rows_f32", logits, n_rows, n_vocab, row_stride, NULL, 0);
    if (s != FR_OK) return s;
    if (n_rows == 0) return FR_OK;
    FR_NOT_NULL(out_lse);
    const fr_kernels* kern = fr_selected();
    for (int64_t r = 0; r < n_rows; ++r) out_lse[r] = kern->lse_row(logits + r * row_stride, n_vocab);
    return FR_OK;
}

FR_API fr_status fr_gather_logprobs_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                        int64_t row_stride, const int32_t* ids, int32_t n_ids,
                                        float* out_logprobs, float* out_lse) {
    fr_status s = fr_check_logits("fr_gather_logprobs_f32", logits, n_rows, n_vocab, row_stride, ids, n_ids);
    if (s != FR_OK) return s;
    if (n_rows == 0) return FR_OK;
    if (n_ids > 0) FR_NOT_NULL(out_logprobs);
    const fr_kernels* kern = fr_selected();
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* row = logits + r * row_stride;
        float lse = kern->lse_row(row, n_vocab);
        if (out_lse != NULL) out_lse[r] = lse;
        for (int32_t i = 0; i < n_ids; ++i) out_logprobs[r * n_ids + i] = row[ids[i]] - lse;
    }
    return FR_OK;
}

/* No variants: it reads n_ids values per row, far below the size where vectors pay. */
FR_API fr_status fr_restricted_softmax_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                           int64_t row_stride, const int32_t* ids, int32_t n_ids,
                                           float* out_probs) {
    fr_status s = fr_check_logits("fr_restricted_softmax_f32", logits, n_rows, n_vocab, row_stride, ids, n_ids);
    if (s != FR_OK) return s;
    if (n_rows == 0 || n_ids == 0) return FR_OK;
    FR_NOT_NULL(out_probs);
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* row = logits + r * row_stride;
        float* out = out_probs + r * n_ids;
        float m = -INFINITY;
        int bad = 0;
        for (int32_t i = 0; i < n_ids; ++i) {
            float v = row[ids[i]];
            if (v != v) bad = 1;
            if (v > m) m = v;
        }
        if (bad || isinf(m)) {
            for (int32_t i = 0; i < n_ids; ++i) out[i] = NAN;
            continue;
        }
        double sum = 0.0;
        for (int32_t i = 0; i < n_ids; ++i) sum += exp((double)row[ids[i]] - (double)m);
        for (int32_t i = 0; i < n_ids; ++i) out[i] = (float)(exp((double)row[ids[i]] - (double)m) / sum);
    }
    return FR_OK;
}

/* ---- attention ---------------------------------------------------------------------------------------- */

FR_API fr_status fr_attn_accumulate_f32(const void* data, const int64_t* ne, const int64_t* nb,
                                        int64_t row0, int64_t row1, int64_t stream, float scale,
                                        float* acc) {
    FR_NOT_NULL(ne);
    FR_NOT_NULL(nb);
    for (int i = 0; i < 4; ++i) {
        FR_REQUIRE(ne[i] >= 0, "fr_attn_accumulate_f32: ne[%d] = %lld is negative", i, (long long)ne[i]);
        FR_REQUIRE(nb[i] >= 0, "fr_attn_accumulate_f32: nb[%d] = %lld is negative", i, (long long)nb[i]);
    }
    FR_REQUIRE(0 <= row0 && row0 <= row1 && row1 <= ne[1],
               "fr_attn_accumulate_f32: rows [%lld, %lld) outside [0, %lld)", (long long)row0, (long long)row1,
               (long long)ne[1]);
    FR_REQUIRE(0 <= stream && stream < ne[3], "fr_attn_accumulate_f32: stream %lld outside [0, %lld)",
               (long long)stream, (long long)ne[3]);
    const int64_t n_kv = ne[0], n_head = ne[2];
    if (n_kv == 0 || row0 == row1 || n_head == 0) return FR_OK;
    FR_NOT_NULL(data);
    FR_NOT_NULL(acc);
    const char* base = (const char*)data + stream * nb[3];
    if (nb[0] == (int64_t)sizeof(float)) {
        /* Row pointers in batches: the kernel sums several rows per pass over acc whatever the
         * head/row strides are, so views and permuted layouts take the fast path too. */
        enum { BATCH = 64 };
        const float* rows[BATCH];
        int n = 0;
        const fr_kernels* kern = fr_selected();
        for (int64_t h = 0; h < n_head; ++h) {
            for (int64_t t = row0; t < row1; ++t) {
                rows[n++] = (const float*)(const void*)(base + h * nb[2] + t * nb[1]);
                if (n == BATCH) {
                    kern->attn_rows(acc, rows, n, n_kv, scale);
                    n = 0;
                }
            }
        }
        if (n > 0) kern->attn_rows(acc, rows, n, n_kv, scale);
        return FR_OK;
    }
    /* Cells not contiguous (a transposed view): one strided scalar path for every variant. */
    for (int64_t c = 0; c < n_kv; ++c) {
        float s = 0.0f;
        for (int64_t h = 0; h < n_head; ++h)
            for (int64_t t = row0; t < row1; ++t) {
                float v;
                memcpy(&v, base + c * nb[0] + t * nb[1] + h * nb[2], sizeof v);
                s += v;
            }
        acc[c] += scale * s;
    }
    return FR_OK;
}

static fr_status fr_check_ranges(const char* fn, int64_t n, const fr_range* r, int64_t count) {
    FR_REQUIRE(n >= 0 && count >= 0, "%s: negative length", fn);
    if (count > 0 && r == NULL) return fr_fail(FR_ERR_NULL_ARGUMENT, "%s: spans is NULL", fn);
    for (int64_t i = 0; i < count; ++i)
        FR_REQUIRE(0 <= r[i].start && r[i].start <= r[i].end && r[i].end <= n,
                   "%s: span %lld = [%d, %d) is not inside [0, %lld)", fn, (long long)i, r[i].start, r[i].end,
                   (long long)n);
    return FR_OK;
}

FR_API fr_status fr_span_sums_f32(const float* values, int64_t n, const fr_range* spans, int64_t n_spans,
                                  float* out) {
    fr_status s = fr_check_ranges("fr_span_sums_f32", n, spans, n_spans);
    if (s != FR_OK) return s;
    if (n_spans == 0) return FR_OK;
    FR_NOT_NULL(out);
    if (n > 0) FR_NOT_NULL(values);
    fr_selected()->span_sums(values, spans, n_spans, out);
    return FR_OK;
}

FR_API fr_status fr_masked_calibration_f32(const float* s_q, const float* s_na, int64_t n, const fr_range* docs,
                                           int64_t n_docs, float* out_scores) {
    fr_status s = fr_check_ranges("fr_masked_calibration_f32", n, docs, n_docs);
    if (s != FR_OK) return s;
    if (n_docs == 0) return FR_OK;
    FR_NOT_NULL(out_scores);
    if (n > 0) {
        FR_NOT_NULL(s_q);
        FR_NOT_NULL(s_na);
    }
    const fr_kernels* kern = fr_selected();
    for (int64_t i = 0; i < n_docs; ++i) {
        int64_t a = docs[i].start, len = docs[i].end - docs[i].start;
        if (len == 0) {
            out_scores[i] = 0.0f;
        } else if (len == 1) {
            double c = (double)s_q[a] - (double)s_na[a];
            out_scores[i] = isfinite(c) ? (float)c : NAN;
        } else {
            out_scores[i] = kern->calib_doc(s_q + a, s_na + a, len);
        }
    }
    return FR_OK;
}

/* ---- embeddings ------------------------------------------------------------------------------------------ */

enum { FR_DOT_BLOCK = 256 }; /* rows scored per kernel call: the block's scores stay in L1 */

typedef struct fr_dot_source {
    int is_q8;
    const int8_t* q8;
    const float* scales;
    const uint16_t* f16;
    int64_t stride; /* bytes for q8, elements for f16 */
} fr_dot_source;

static void fr_dots_block(const fr_kernels* kern, const fr_dot_source* src, const float* queries, int64_t n_q,
                          int64_t dim, int64_t r0, int64_t n, float* out) {
    if (src->is_q8)
        kern->dots_q8(queries, n_q, dim, src->q8 + r0 * src->stride, src->stride, src->scales + r0, n, out);
    else
        kern->dots_f16(queries, n_q, dim, src->f16 + r0 * src->stride, src->stride, n, out);
}

static fr_status fr_check_dots(const char* fn, const float* queries, int64_t n_q, int64_t dim, const void* rows,
                               int64_t min_stride, int64_t stride, int64_t n_rows) {
    FR_REQUIRE(n_q >= 0 && dim >= 0 && n_rows >= 0, "%s: negative shape", fn);
    FR_REQUIRE(n_rows <= INT32_MAX, "%s: %lld rows exceed int32 indices", fn, (long long)n_rows);
    FR_REQUIRE(n_rows <= 1 || stride >= min_stride, "%s: row stride %lld < row length %lld", fn, (long long)stride,
               (long long)min_stride);
    if (n_q > 0 && dim > 0 && queries == NULL) return fr_fail(FR_ERR_NULL_ARGUMENT, "%s: queries is NULL", fn);
    if (n_rows > 0 && dim > 0 && rows == NULL) return fr_fail(FR_ERR_NULL_ARGUMENT, "%s: rows is NULL", fn);
    return FR_OK;
}

static fr_status fr_dot_rows(const char* fn, const fr_dot_source* src, const float* queries, int64_t n_q,
                             int64_t dim, int64_t n_rows, float* out) {
    if (n_q == 0 || n_rows == 0) return FR_OK;
    FR_NOT_NULL(out);
    const fr_kernels* kern = fr_selected();
    if (n_q == 1) {
        fr_dots_block(kern, src, queries, 1, dim, 0, n_rows, out);
        return FR_OK;
    }
    float* tmp = (float*)malloc((size_t)FR_DOT_BLOCK * (size_t)n_q * sizeof(float));
    if (tmp == NULL) return fr_fail(FR_ERR_OUT_OF_MEMORY, "%s: cannot allocate a score block", fn);
    for (int64_t r0 = 0; r0 < n_rows; r0 += FR_DOT_BLOCK) {
        int64_t n = n_rows - r0 < FR_DOT_BLOCK ? n_rows - r0 : FR_DOT_BLOCK;
        fr_dots_block(kern, src, queries, n_q, dim, r0, n, tmp);
        for (int64_t r = 0; r < n; ++r)
            for (int64_t q = 0; q < n_q; ++q) out[q * n_rows + r0 + r] = tmp[r * n_q + q];
    }
    free(tmp);
    return FR_OK;
}

static fr_status fr_topk_dot(const char* fn, const fr_dot_source* src, const float* queries, int64_t n_q,
                             int64_t dim, int64_t n_rows, int32_t k, int32_t* out_idx, float* out_scores,
                             int32_t* out_count) {
    FR_NOT_NULL(out_count);
    FR_REQUIRE(k >= 0, "%s: k = %d is negative", fn, k);
    int32_t c = (int64_t)k < n_rows ? k : (int32_t)n_rows;
    if (c == 0 || n_q == 0) {
        *out_count = c;
        return FR_OK;
    }
    FR_NOT_NULL(out_idx);
    size_t tmp_floats = (size_t)FR_DOT_BLOCK * (size_t)n_q + (out_scores == NULL ? (size_t)c * (size_t)n_q : 0);
    float* tmp = (float*)malloc(tmp_floats * sizeof(float));
    if (tmp == NULL) return fr_fail(FR_ERR_OUT_OF_MEMORY, "%s: cannot allocate a score block", fn);
    float* vals = out_scores != NULL ? out_scores : tmp + (size_t)FR_DOT_BLOCK * (size_t)n_q;
    fr_heap* heaps = (fr_heap*)malloc((size_t)n_q * sizeof(fr_heap));
    if (heaps == NULL) {
        free(tmp);
        return fr_fail(FR_ERR_OUT_OF_MEMORY, "%s: cannot allocate heaps", fn);
    }
    for (int64_t q = 0; q < n_q; ++q) {
        heaps[q].val = vals + q * c;
        heaps[q].idx = out_idx + q * c;
        heaps[q].size = 0;
        heaps[q].cap = c;
    }
    const fr_kernels* kern = fr_selected();
    for (int64_t r0 = 0; r0 < n_rows; r0 += FR_DOT_BLOCK) {
        int64_t n = n_rows - r0 < FR_DOT_BLOCK ? n_rows - r0 : FR_DOT_BLOCK;
        fr_dots_block(kern, src, queries, n_q, dim, r0, n, tmp);
        for (int64_t q = 0; q < n_q; ++q)
            for (int64_t r = 0; r < n; ++r) fr_heap_offer(&heaps[q], tmp[r * n_q + q], (int32_t)(r0 + r));
    }
    for (int64_t q = 0; q < n_q; ++q) fr_heap_finish(&heaps[q]);
    free(heaps);
    free(tmp);
    *out_count = c;
    return FR_OK;
}

FR_API fr_status fr_dot_rows_q8_f32(const float* queries, int64_t n_queries, int64_t dim, const int8_t* rows,
                                    int64_t row_stride_bytes, const float* scales, int64_t n_rows,
                                    float* out_scores) {
    fr_status s = fr_check_dots("fr_dot_rows_q8_f32", queries, n_queries, dim, rows, dim, row_stride_bytes, n_rows);
    if (s != FR_OK) return s;
    if (n_rows > 0) FR_NOT_NULL(scales);
    fr_dot_source src = { 1, rows, scales, NULL, row_stride_bytes };
    return fr_dot_rows("fr_dot_rows_q8_f32", &src, queries, n_queries, dim, n_rows, out_scores);
}

FR_API fr_status fr_dot_rows_f16_f32(const float* queries, int64_t n_queries, int64_t dim, const uint16_t* rows,
                                     int64_t row_stride, int64_t n_rows, float* out_scores) {
    fr_status s = fr_check_dots("fr_dot_rows_f16_f32", queries, n_queries, dim, rows, dim, row_stride, n_rows);
    if (s != FR_OK) return s;
    fr_dot_source src = { 0, NULL, NULL, rows, row_stride };
    return fr_dot_rows("fr_dot_rows_f16_f32", &src, queries, n_queries, dim, n_rows, out_scores);
}

FR_API fr_status fr_topk_dot_q8_f32(const float* queries, int64_t n_queries, int64_t dim, const int8_t* rows,
                                    int64_t row_stride_bytes, const float* scales, int64_t n_rows, int32_t k,
                                    int32_t* out_idx, float* out_scores, int32_t* out_count) {
    fr_status s = fr_check_dots("fr_topk_dot_q8_f32", queries, n_queries, dim, rows, dim, row_stride_bytes, n_rows);
    if (s != FR_OK) return s;
    if (n_rows > 0) FR_NOT_NULL(scales);
    fr_dot_source src = { 1, rows, scales, NULL, row_stride_bytes };
    return fr_topk_dot("fr_topk_dot_q8_f32", &src, queries, n_queries, dim, n_rows, k, out_idx, out_scores,
                       out_count);
}

FR_API fr_status fr_topk_dot_f16_f32(const float* queries, int64_t n_queries, int64_t dim, const uint16_t* rows,
                                     int64_t row_stride, int64_t n_rows, int32_t k, int32_t* out_idx,
                                     float* out_scores, int32_t* out_count) {
    fr_status s = fr_check_dots("fr_topk_dot_f16_f32", queries, n_queries, dim, rows, dim, row_stride, n_rows);
    if (s != FR_OK) return s;
    fr_dot_source src = { 0, NULL, NULL, rows, row_stride };
    return fr_topk_dot("fr_topk_dot_f16_f32", &src, queries, n_queries, dim, n_rows, k, out_idx, out_scores,
                       out_count);
}
