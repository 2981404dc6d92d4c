// Top-k: every variant must return exactly the oracle's indices and values (selection is exact).
#include "test_support.h"

using namespace frtest;

namespace {

void ExpectTopK(const std::string& variant, const float* x, int64_t n, int32_t k, const char* what) {
    SCOPED_TRACE(::testing::Message() << variant << " " << what << " n=" << n << " k=" << k);
    auto expected = OracleTopK(x, n, k);
    std::vector<int32_t> idx(expected.size() + 1, -7);
    std::vector<float> val(expected.size() + 1, -7.0f);
    int32_t count = -1;
    {
        VariantScope scope(variant);
        ASSERT_EQ(fr_topk_f32(x, n, k, idx.data(), val.data(), &count), FR_OK);
    }
    ASSERT_EQ(count, static_cast<int32_t>(expected.size()));
    for (int32_t i = 0; i < count; ++i) {
        ASSERT_EQ(idx[i], expected[i]) << "rank " << i;
        ASSERT_TRUE(SameFloat(val[i], x[expected[i]])) << "rank " << i;
    }
    EXPECT_EQ(idx[count], -7) << "wrote past the count";
}

std::vector<std::vector<float>> Inputs(size_t n, uint32_t seed) {
    std::vector<std::vector<float>> out;
    out.push_back(Normal(n, seed));
    out.push_back(Adversarial(n, seed));
    std::vector<float> asc(n);
    for (size_t i = 0; i < n; ++i) asc[i] = static_cast<float>(i) * 0.5f;
    out.push_back(asc);
    out.push_back(std::vector<float>(n, 2.0f));
    std::vector<float> nan_first = Normal(n, seed + 1);
    for (size_t i = 0; i < n && i < 80; ++i) nan_first[i] = kNaN;
    out.push_back(nan_first);
    std::vector<float> denorm(n);
    for (size_t i = 0; i < n; ++i) denorm[i] = kDenorm * static_cast<float>(static_cast<int>(i % 7) - 3);
    out.push_back(denorm);
    return out;
}

}  // namespace

TEST(TopK, EveryVariantMatchesOracleAcrossLengthsAndInputs) {
    const int64_t lengths[] = { 1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 257, 1000, 4099 };
    for (const auto& variant : SupportedVariants()) {
        for (int64_t n : lengths) {
            int input_no = 0;
            for (const auto& x : Inputs(static_cast<size_t>(n), static_cast<uint32_t>(n))) {
                const char* what[] = { "normal", "adversarial", "ascending", "constant", "nan-first", "denormal" };
                for (int32_t k : { 1, 3, 10, 64, static_cast<int32_t>(n) - 1, static_cast<int32_t>(n),
                                   static_cast<int32_t>(n) + 7 }) {
                    if (k < 1) continue;
                    ExpectTopK(variant, x.data(), n, k, what[input_no]);
                    if (HasFatalFailure()) return;
                }
                ++input_no;
            }
        }
    }
}

TEST(TopK, EmptyInputAndZeroK) {
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        int32_t count = -1;
        EXPECT_EQ(fr_topk_f32(nullptr, 0, 10, nullptr, nullptr, &count), FR_OK);
        EXPECT_EQ(count, 0);
        float x[3] = { 1, 2, 3 };
        EXPECT_EQ(fr_topk_f32(x, 3, 0, nullptr, nullptr, &count), FR_OK);
        EXPECT_EQ(count, 0);
    }
}

TEST(TopK, ValuesAreOptional) {
    auto x = Normal(1000, 5);
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        std::vector<int32_t> idx(10);
        int32_t count = 0;
        ASSERT_EQ(fr_topk_f32(x.data(), 1000, 10, idx.data(), nullptr, &count), FR_OK);
        EXPECT_EQ(idx, OracleTopK(x.data(), 1000, 10));
    }
}

TEST(TopK, UnalignedInput) {
    auto buffer = Normal(4099 + 3, 9);
    for (int offset = 1; offset < 4; ++offset)
        for (const auto& variant : SupportedVariants()) ExpectTopK(variant, buffer.data() + offset, 4099, 37, "unaligned");
}

TEST(TopK, LargeRowMatchesReference) {
    auto x = Normal(1 << 20, 11);
    for (const auto& variant : SupportedVariants())
        for (int32_t k : { 10, 100 }) ExpectTopK(variant, x.data(), 1 << 20, k, "1M");
}

TEST(TopK, StridedRows) {
    const int64_t rows = 9, cols = 77, stride = 85;
    auto x = Adversarial(static_cast<size_t>(rows * stride), 3);
    for (const auto& variant : SupportedVariants()) {
        for (int32_t k : { 1, 5, 77, 100 }) {
            int32_t c = std::min<int32_t>(k, cols);
            std::vector<int32_t> idx(static_cast<size_t>(rows * c));
            std::vector<float> val(static_cast<size_t>(rows * c));
            int32_t count = 0;
            {
                VariantScope scope(variant);
                ASSERT_EQ(fr_topk_rows_f32(x.data(), rows, cols, stride, k, idx.data(), val.data(), &count), FR_OK);
            }
            ASSERT_EQ(count, c);
            for (int64_t r = 0; r < rows; ++r) {
                auto expected = OracleTopK(x.data() + r * stride, cols, k);
                for (int32_t i = 0; i < c; ++i) {
                    ASSERT_EQ(idx[static_cast<size_t>(r * c + i)], expected[static_cast<size_t>(i)]) << variant;
                    ASSERT_TRUE(SameFloat(val[static_cast<size_t>(r * c + i)], x[static_cast<size_t>(r * stride + expected[i])]));
                }
            }
        }
    }
}

TEST(TopK, NaNRanksBelowMinusInfinityAndZerosTie) {
    float x[] = { kNaN, -kInf, -0.0f, 0.0f, kNaN, 1.0f };
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        int32_t idx[6];
        float val[6];
        int32_t count = 0;
        ASSERT_EQ(fr_topk_f32(x, 6, 6, idx, val, &count), FR_OK);
        const int32_t expected[] = { 5, 2, 3, 1, 0, 4 };
        for (int i = 0; i < 6; ++i) EXPECT_EQ(idx[i], expected[i]) << variant << " rank " << i;
    }
}
