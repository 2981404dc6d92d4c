/* NEON variant (every AArch64 CPU has Advanced SIMD, so it is always safe to select there). Built
 * only for arm64 targets. */
#include "fr_internal.h"

#if defined(FR_HAVE_NEON_VARIANT)
#include <arm_neon.h>

#define FR_SUFFIX neon
#define FR_VARIANT_NAME "neon"

#define VF float32x4_t
#define VF_N 4
#define vf_zero() vdupq_n_f32(0.0f)
#define vf_set1(x) vdupq_n_f32(x)
#define vf_load(p) vld1q_f32(p)
#define vf_store(p, v) vst1q_f32(p, v)
#define vf_add(a, b) vaddq_f32(a, b)
#define vf_sub(a, b) vsubq_f32(a, b)
#define vf_mul(a, b) vmulq_f32(a, b)
#define vf_max(a, b) vmaxq_f32(a, b)
#define vf_min(a, b) vminq_f32(a, b)
#define vf_fmadd(a, b, c) vfmaq_f32(c, a, b)
#define vf_round(v) vrndnq_f32(v)
#define vf_pow2i(n) vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23))
#define vf_keep_ge(r, x, l) vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(r), vcgeq_f32(x, l)))
#define vf_gt_bits(a, b) fr_bits_neon(vcgtq_f32(a, b))
#define vf_nan_bits(a) fr_bits_neon(vmvnq_u32(vceqq_f32(a, a)))
#define vf_hsum(v) vaddvq_f32(v)
#define vf_hmax(v) vmaxvq_f32(v)
#define vf_load_i8(p) fr_load_i8_neon(p)
#define vf_load_partial(p, n) fr_load_partial_neon(p, n)
#define vf_load_f16(p) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)))

#define VD float64x2_t
#define VD_N 2
#define vd_zero() vdupq_n_f64(0.0)
#define vd_set1(x) vdupq_n_f64(x)
#define vd_load_f32(p) vcvt_f64_f32(vld1_f32(p))
#define vd_from_vf_lo(v) vcvt_f64_f32(vget_low_f32(v))
#define vd_from_vf_hi(v) vcvt_high_f64_f32(v)
#define vd_add(a, b) vaddq_f64(a, b)
#define vd_sub(a, b) vsubq_f64(a, b)
#define vd_mul(a, b) vmulq_f64(a, b)
#define vd_fmadd(a, b, c) vfmaq_f64(c, a, b)
#define vd_min(a, b) vminq_f64(a, b)
#define vd_max(a, b) vmaxq_f64(a, b)
#define vd_keep_gt(v, t) vreinterpretq_f64_u64(vandq_u64(vreinterpretq_u64_f64(v), vcgtq_f64(v, t)))
#define vd_hsum(v) vaddvq_f64(v)
#define vd_hmin(v) vminvq_f64(v)
#define vd_hmax(v) vmaxvq_f64(v)

static inline uint32_t fr_bits_neon(uint32x4_t m) {
    const uint32x4_t w = { 1u, 2u, 4u, 8u };
    return vaddvq_u32(vandq_u32(m, w));
}

/* Up to three floats into a zeroed vector (NEON has no masked load). */
static inline float32x4_t fr_load_partial_neon(const float* p, int n) {
    float t[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    for (int i = 0; i < n; ++i) t[i] = p[i];
    return vld1q_f32(t);
}

/* Four int8 lanes: a 4-byte load, so the last row element is never read past. */
static inline float32x4_t fr_load_i8_neon(const int8_t* p) {
    int32_t w;
    memcpy(&w, p, sizeof w);
    int16x8_t h = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w)));
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(h)));
}

#include "fr_simd_kernels.inc"
#endif
