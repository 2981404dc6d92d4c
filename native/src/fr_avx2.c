/* AVX2 + FMA + F16C variant (Haswell and later, Zen). Compiled with -mavx2 -mfma -mf16c for this file
 * only, and entered only after the dispatcher has seen those features, so the library still loads and
 * runs on older CPUs. */
#include "fr_internal.h"

#if defined(FR_HAVE_X86_VARIANTS)
#include <immintrin.h>

#define FR_SUFFIX avx2
#define FR_VARIANT_NAME "avx2"

#define VF __m256
#define VF_N 8
#define vf_zero() _mm256_setzero_ps()
#define vf_set1(x) _mm256_set1_ps(x)
#define vf_load(p) _mm256_loadu_ps(p)
#define vf_store(p, v) _mm256_storeu_ps(p, v)
#define vf_add(a, b) _mm256_add_ps(a, b)
#define vf_sub(a, b) _mm256_sub_ps(a, b)
#define vf_mul(a, b) _mm256_mul_ps(a, b)
#define vf_max(a, b) _mm256_max_ps(a, b)
#define vf_min(a, b) _mm256_min_ps(a, b)
#define vf_fmadd(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vf_round(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_pow2i(n) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))
#define vf_keep_ge(r, x, l) _mm256_and_ps(r, _mm256_cmp_ps(x, l, _CMP_GE_OQ))
#define vf_gt_bits(a, b) ((uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GT_OQ)))
#define vf_nan_bits(a) ((uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a, a, _CMP_UNORD_Q)))
#define vf_hsum(v) fr_hsum_avx2(v)
#define vf_hmax(v) fr_hmax_avx2(v)
#define vf_load_i8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(const void*)(p))))
/* vmaskmovps does not fault on masked-off lanes, so the partial load never reads past p + n. */
#define vf_load_partial(p, n) \
    _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
#define vf_load_f16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(const void*)(p)))

#define VD __m256d
#define VD_N 4
#define vd_zero() _mm256_setzero_pd()
#define vd_set1(x) _mm256_set1_pd(x)
#define vd_load_f32(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define vd_from_vf_lo(v) _mm256_cvtps_pd(_mm256_castps256_ps128(v))
#define vd_from_vf_hi(v) _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))
#define vd_add(a, b) _mm256_add_pd(a, b)
#define vd_sub(a, b) _mm256_sub_pd(a, b)
#define vd_mul(a, b) _mm256_mul_pd(a, b)
#define vd_fmadd(a, b, c) _mm256_fmadd_pd(a, b, c)
#define vd_min(a, b) _mm256_min_pd(a, b)
#define vd_max(a, b) _mm256_max_pd(a, b)
#define vd_keep_gt(v, t) _mm256_and_pd(v, _mm256_cmp_pd(v, t, _CMP_GT_OQ))
#define vd_hsum(v) fr_hreduce_pd_avx2(v, 0)
#define vd_hmin(v) fr_hreduce_pd_avx2(v, 1)
#define vd_hmax(v) fr_hreduce_pd_avx2(v, 2)

static inline float fr_hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float fr_hmax_avx2(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline double fr_hreduce_pd_avx2(__m256d v, int op) {
    double t[4];
    _mm256_storeu_pd(t, v);
    if (op == 0) return (t[0] + t[1]) + (t[2] + t[3]);
    double r = t[0];
    for (int i = 1; i < 4; ++i) r = op == 1 ? (t[i] < r ? t[i] : r) : (t[i] > r ? t[i] : r);
    return r;
}

#include "fr_simd_kernels.inc"
#endif
