/* Internal declarations shared by the dispatcher (fr_core.c), the scalar reference kernels
 * (fr_generic.c) and the SIMD variants (fr_avx2.c, fr_avx512.c, fr_neon.c). */
#ifndef FR_INTERNAL_H
#define FR_INTERNAL_H

#include "fastrank.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* One implementation of every vectorisable kernel. The dispatcher validates arguments and handles
 * shapes; a table entry only sees well-formed input (n >= 1, 1 <= k <= n, ...). */
typedef struct fr_kernels {
    const char* name;
    /* The k best of x[0..n), written in rank order to idx/val (both non-NULL). */
    void (*topk_row)(const float* x, int64_t n, int32_t k, int32_t* idx, float* val);
    /* log-sum-exp of one row, rules as fr_logsumexp_rows_f32. */
    float (*lse_row)(const float* x, int64_t n);
    /* acc[c] += scale * sum_r rows[r][c] for c < n_cols; rows are contiguous f32. */
    void (*attn_rows)(float* acc, const float* const* rows, int64_t n_rows, int64_t n_cols, float scale);
    /* out[i] = sum of values over spans[i] (validated ranges). */
    void (*span_sums)(const float* values, const fr_range* spans, int64_t n_spans, float* out);
    /* masked calibration score of one document of n >= 2 tokens. */
    float (*calib_doc)(const float* q, const float* na, int64_t n);
    /* out[r * n_q + q] = scales[r] * dot(queries[q], row r) for n_rows rows. */
    void (*dots_q8)(const float* queries, int64_t n_q, int64_t dim, const int8_t* rows,
                    int64_t row_stride_bytes, const float* scales, int64_t n_rows, float* out);
    void (*dots_f16)(const float* queries, int64_t n_q, int64_t dim, const uint16_t* rows,
                     int64_t row_stride, int64_t n_rows, float* out);
} fr_kernels;

extern const fr_kernels fr_kernels_generic;
#if defined(FR_HAVE_X86_VARIANTS)
extern const fr_kernels fr_kernels_avx2;
extern const fr_kernels fr_kernels_avx512;
#endif
#if defined(FR_HAVE_NEON_VARIANT)
extern const fr_kernels fr_kernels_neon;
#endif

/* The scalar references, also called directly by the SIMD variants for their short tails. */
void fr_topk_row_generic(const float* x, int64_t n, int32_t k, int32_t* idx, float* val);
float fr_lse_row_generic(const float* x, int64_t n);
void fr_attn_rows_generic(float* acc, const float* const* rows, int64_t n_rows, int64_t n_cols, float scale);
void fr_span_sums_generic(const float* values, const fr_range* spans, int64_t n_spans, float* out);
float fr_calib_doc_generic(const float* q, const float* na, int64_t n);
void fr_dots_q8_generic(const float* queries, int64_t n_q, int64_t dim, const int8_t* rows,
                        int64_t row_stride_bytes, const float* scales, int64_t n_rows, float* out);
void fr_dots_f16_generic(const float* queries, int64_t n_q, int64_t dim, const uint16_t* rows,
                         int64_t row_stride, int64_t n_rows, float* out);

/* IEEE binary16 -> binary32, exact for every input (denormals, inf, NaN payload). */
static inline float fr_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* Denormal half: normalise into a float (every half denormal is a normal float). */
        int shift = 0;
        while ((mant & 0x400u) == 0) { mant <<= 1; ++shift; }
        mant &= 0x3FFu;
        bits = sign | ((uint32_t)(113 - shift) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---- the bounded heap behind every top-k --------------------------------------------------------
 * A min-heap whose root is the worst kept entry, so a candidate is compared with one value and the
 * common case (candidate not better) costs one compare. */

/* 1 if (av, ai) ranks after (bv, bi): NaN last, then lower value, then higher index. */
static inline int fr_rank_after(float av, int32_t ai, float bv, int32_t bi) {
    int an = av != av, bn = bv != bv;
    if (an | bn) return an && (!bn || ai > bi);
    return av < bv || (av == bv && ai > bi);
}

typedef struct fr_heap {
    float* val;
    int32_t* idx;
    int32_t size;
    int32_t cap;
} fr_heap;

static inline void fr_heap_sift_down(fr_heap* h, int32_t i) {
    float v = h->val[i];
    int32_t x = h->idx[i];
    int32_t n = h->size;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && fr_rank_after(h->val[c + 1], h->idx[c + 1], h->val[c], h->idx[c])) ++c;
        if (!fr_rank_after(h->val[c], h->idx[c], v, x)) break;
        h->val[i] = h->val[c];
        h->idx[i] = h->idx[c];
        i = c;
    }
    h->val[i] = v;
    h->idx[i] = x;
}

/* Offers (v, i); i must exceed every index offered before (true for a left-to-right scan), so a tie
 * with the root never displaces it. */
static inline void fr_heap_offer(fr_heap* h, float v, int32_t i) {
    if (h->size < h->cap) {
        int32_t j = h->size++;
        while (j > 0) {
            int32_t p = (j - 1) / 2;
            if (!fr_rank_after(v, i, h->val[p], h->idx[p])) break;
            h->val[j] = h->val[p];
            h->idx[j] = h->idx[p];
            j = p;
        }
        h->val[j] = v;
        h->idx[j] = i;
        return;
    }
    if (fr_rank_after(h->val[0], h->idx[0], v, i)) {
        h->val[0] = v;
        h->idx[0] = i;
        fr_heap_sift_down(h, 0);
    }
}

/* Sorts the heap's entries into rank order in place (heap sort: each pop moves the worst to the end). */
static inline void fr_heap_finish(fr_heap* h) {
    while (h->size > 1) {
        int32_t last = --h->size;
        float v = h->val[0];
        int32_t x = h->idx[0];
        h->val[0] = h->val[last];
        h->idx[0] = h->idx[last];
        h->val[last] = v;
        h->idx[last] = x;
        fr_heap_sift_down(h, 0);
    }
    h->size = 0;
}

/* Threshold a SIMD scan compares against: a value v can enter the full heap only if v > it. When the
 * root is NaN any number qualifies, which the scan handles on its scalar path. */
static inline int fr_heap_root_is_nan(const fr_heap* h) { return h->val[0] != h->val[0]; }

#endif
