/* AVX-512 variant (F, BW, DQ, VL: Skylake-SP, Ice Lake, Zen 4 and later). Compiled with AVX-512 flags
 * for this file only and entered only after the dispatcher has seen the features and OS support, so
 * the library still runs on CPUs without AVX-512. Mask registers make the compare-to-bits step one
 * instruction, which is what the top-k threshold scan spends its time on. */
#include "fr_internal.h"

#if defined(FR_HAVE_X86_VARIANTS)
#include <immintrin.h>

#define FR_SUFFIX avx512
#define FR_VARIANT_NAME "avx512"

#define VF __m512
#define VF_N 16
#define vf_zero() _mm512_setzero_ps()
#define vf_set1(x) _mm512_set1_ps(x)
#define vf_load(p) _mm512_loadu_ps(p)
#define vf_store(p, v) _mm512_storeu_ps(p, v)
#define vf_add(a, b) _mm512_add_ps(a, b)
#define vf_sub(a, b) _mm512_sub_ps(a, b)
#define vf_mul(a, b) _mm512_mul_ps(a, b)
#define vf_max(a, b) _mm512_max_ps(a, b)
#define vf_min(a, b) _mm512_min_ps(a, b)
#define vf_fmadd(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vf_round(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_pow2i(n) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))
#define vf_keep_ge(r, x, l) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, l, _CMP_GE_OQ), r)
#define vf_gt_bits(a, b) ((uint32_t)_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ))
#define vf_nan_bits(a) ((uint32_t)_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q))
#define vf_hsum(v) _mm512_reduce_add_ps(v)
#define vf_hmax(v) _mm512_reduce_max_ps(v)
#define vf_load_i8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(const void*)(p))))
#define vf_load_partial(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1u), p)
#define vf_load_f16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(const void*)(p)))

#define VD __m512d
#define VD_N 8
#define vd_zero() _mm512_setzero_pd()
#define vd_set1(x) _mm512_set1_pd(x)
#define vd_load_f32(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define vd_from_vf_lo(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define vd_from_vf_hi(v) _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))
#define vd_add(a, b) _mm512_add_pd(a, b)
#define vd_sub(a, b) _mm512_sub_pd(a, b)
#define vd_mul(a, b) _mm512_mul_pd(a, b)
#define vd_fmadd(a, b, c) _mm512_fmadd_pd(a, b, c)
#define vd_min(a, b) _mm512_min_pd(a, b)
#define vd_max(a, b) _mm512_max_pd(a, b)
#define vd_keep_gt(v, t) _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(v, t, _CMP_GT_OQ), v)
#define vd_hsum(v) _mm512_reduce_add_pd(v)
#define vd_hmin(v) _mm512_reduce_min_pd(v)
#define vd_hmax(v) _mm512_reduce_max_pd(v)

#include "fr_simd_kernels.inc"
#endif
