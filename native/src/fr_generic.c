/* Scalar reference kernels (*_generic): the plain, obviously correct version of every kernel.
 * They are the "scalar" variant and the oracle every SIMD and CUDA variant is tested against, so
 * they favour clarity and accuracy (double accumulators) over speed. */
#include "fr_internal.h"

#include <float.h>

void fr_topk_row_generic(const float* x, int64_t n, int32_t k, int32_t* idx, float* val) {
    fr_heap h = { val, idx, 0, k };
    for (int64_t i = 0; i < n; ++i) fr_heap_offer(&h, x[i], (int32_t)i);
    fr_heap_finish(&h);
}

float fr_lse_row_generic(const float* x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
        if (x[i] != x[i]) return NAN;
        if (x[i] > m) m = x[i];
    }
    if (isinf(m)) return m;
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += exp((double)x[i] - (double)m);
    return (float)((double)m + log(s));
}

void fr_attn_rows_generic(float* acc, const float* const* rows, int64_t n_rows, int64_t n_cols, float scale) {
    for (int64_t c = 0; c < n_cols; ++c) {
        float s = 0.0f;
        for (int64_t r = 0; r < n_rows; ++r) s += rows[r][c];
        acc[c] += scale * s;
    }
}

void fr_span_sums_generic(const float* values, const fr_range* spans, int64_t n_spans, float* out) {
    for (int64_t i = 0; i < n_spans; ++i) {
        double s = 0.0;
        for (int32_t t = spans[i].start; t < spans[i].end; ++t) s += values[t];
        out[i] = (float)s;
    }
}

float fr_calib_doc_generic(const float* q, const float* na, int64_t n) {
    double sum = 0.0, cmin = INFINITY, cmax = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
        double c = (double)q[i] - (double)na[i];
        sum += c;
        cmin = c < cmin ? c : cmin;
        cmax = c > cmax ? c : cmax;
    }
    if (!isfinite(sum)) return NAN;
    if (cmin == cmax) return 0.0f;
    double mean = sum / (double)n;
    double dev = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        double d = ((double)q[i] - (double)na[i]) - mean;
        dev += d * d;
    }
    double threshold = mean - 2.0 * sqrt(dev / (double)(n - 1));
    double score = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        double c = (double)q[i] - (double)na[i];
        if (c > threshold) score += c;
    }
    return (float)score;
}

void fr_dots_q8_generic(const float* queries, int64_t n_q, int64_t dim, const int8_t* rows,
                        int64_t row_stride_bytes, const float* scales, int64_t n_rows, float* out) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const int8_t* row = rows + r * row_stride_bytes;
        for (int64_t q = 0; q < n_q; ++q) {
            const float* v = queries + q * dim;
            double s = 0.0;
            for (int64_t i = 0; i < dim; ++i) s += (double)v[i] * (double)row[i];
            out[r * n_q + q] = (float)(s * (double)scales[r]);
        }
    }
}

void fr_dots_f16_generic(const float* queries, int64_t n_q, int64_t dim, const uint16_t* rows,
                         int64_t row_stride, int64_t n_rows, float* out) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const uint16_t* row = rows + r * row_stride;
        for (int64_t q = 0; q < n_q; ++q) {
            const float* v = queries + q * dim;
            double s = 0.0;
            for (int64_t i = 0; i < dim; ++i) s += (double)v[i] * (double)fr_f16_to_f32(row[i]);
            out[r * n_q + q] = (float)s;
        }
    }
}

const fr_kernels fr_kernels_generic = {
    "scalar",
    fr_topk_row_generic,
    fr_lse_row_generic,
    fr_attn_rows_generic,
    fr_span_sums_generic,
    fr_calib_doc_generic,
    fr_dots_q8_generic,
    fr_dots_f16_generic,
};
