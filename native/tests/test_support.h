// Shared helpers for the native unit tests: variant iteration, input generators and oracles.
#pragma once

#include "fastrank.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace frtest {

inline std::vector<std::string> SupportedVariants() {
    std::vector<std::string> out;
    for (const char* v : { "scalar", "avx2", "avx512", "neon" }) {
        int32_t ok = 0;
        EXPECT_EQ(fr_kernel_variant_supported(v, &ok), FR_OK);
        if (ok) out.emplace_back(v);
    }
    return out;
}

// Pins a variant on this thread for the scope; the reference is always "scalar".
class VariantScope {
public:
    explicit VariantScope(const std::string& name) { EXPECT_EQ(fr_set_thread_kernel_variant(name.c_str()), FR_OK); }
    ~VariantScope() { fr_set_thread_kernel_variant(nullptr); }
    VariantScope(const VariantScope&) = delete;
    VariantScope& operator=(const VariantScope&) = delete;
};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kDenorm = 1e-40f;

inline std::vector<float> Normal(size_t n, uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Adversarial floats: many exact ties, signed zeros, NaN, infinities and denormals mixed in.
inline std::vector<float> Adversarial(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    const float pool[] = { 0.0f, -0.0f, 1.0f, -1.0f, kNaN, kInf, -kInf, kDenorm, -kDenorm, 3.5f, 3.5f, 1e30f, -1e30f };
    std::vector<float> v(n);
    for (auto& x : v) x = pool[rng() % (sizeof pool / sizeof pool[0])];
    return v;
}

// Rank order: NaN last, then value descending, then index ascending.
inline bool RanksBefore(float av, int32_t ai, float bv, int32_t bi) {
    bool an = std::isnan(av), bn = std::isnan(bv);
    if (an != bn) return bn;
    if (!an && av != bv) return av > bv;
    return ai < bi;
}

inline std::vector<int32_t> OracleTopK(const float* x, int64_t n, int32_t k) {
    std::vector<int32_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return RanksBefore(x[a], a, x[b], b); });
    idx.resize(std::min<size_t>(idx.size(), static_cast<size_t>(std::max(k, 0))));
    return idx;
}

// Bitwise float equality that treats every NaN as equal.
inline bool SameFloat(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    return ua == ub;
}

// |a - b| <= abs + rel * |b|, with NaN == NaN and equal infinities equal.
inline ::testing::AssertionResult Near(double a, double b, double abs, double rel) {
    if (std::isnan(a) || std::isnan(b)) {
        if (std::isnan(a) && std::isnan(b)) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << a << " vs " << b;
    }
    if (std::isinf(a) || std::isinf(b)) {
        if (a == b) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << a << " vs " << b;
    }
    if (std::fabs(a - b) <= abs + rel * std::fabs(b)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << a << " vs " << b << " (diff " << std::fabs(a - b) << ")";
}

inline uint16_t ToHalf(float f) {
    // Round-to-nearest-even binary16 (finite inputs in range; enough for test data).
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = static_cast<int32_t>((x >> 23) & 0xFF) - 127 + 15;
    uint32_t mant = x & 0x7FFFFFu;
    if (exp >= 31) return static_cast<uint16_t>(sign | 0x7C00u);
    if (exp <= 0) {
        if (exp < -10) return static_cast<uint16_t>(sign);
        mant |= 0x800000u;
        uint32_t shift = static_cast<uint32_t>(14 - exp);
        uint32_t h = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) ++h;
        return static_cast<uint16_t>(sign | h);
    }
    uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
}

inline float FromHalf(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu, bits;
    if (exp == 0x1F) bits = sign | 0x7F800000u | (mant << 13);
    else if (exp) bits = sign | ((exp + 112) << 23) | (mant << 13);
    else if (!mant) bits = sign;
    else {
        float f = std::ldexp(static_cast<float>(mant), -24);
        return sign ? -f : f;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

}  // namespace frtest
