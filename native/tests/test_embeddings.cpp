// Dot products over int8 (per-row scale) and f16 rows, and the fused top-k.
// Scores: |got - ref| <= 1e-6 + 2e-5 * sum_i |q_i * r_i| (float accumulation, any lane order).
// Fused top-k: exactly the oracle top-k of the same variant's own dot scores.
#include "test_support.h"

using namespace frtest;

namespace {

struct Q8Matrix {
    std::vector<int8_t> data;  // n_rows * stride bytes
    std::vector<float> scales;
    int64_t stride;
};

Q8Matrix MakeQ8(int64_t n_rows, int64_t dim, int64_t stride, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> q(-127, 127);
    std::uniform_real_distribution<float> s(0.001f, 0.02f);
    Q8Matrix m{ std::vector<int8_t>(static_cast<size_t>(n_rows * stride + 1), 0), std::vector<float>(static_cast<size_t>(n_rows)), stride };
    for (int64_t r = 0; r < n_rows; ++r) {
        m.scales[static_cast<size_t>(r)] = s(rng);
        for (int64_t i = 0; i < dim; ++i) m.data[static_cast<size_t>(r * stride + i + 1)] = static_cast<int8_t>(q(rng));
    }
    if (n_rows > 2) {  // exact duplicate rows: ties resolved by index
        std::copy_n(m.data.begin() + 1, dim, m.data.begin() + 1 + 2 * stride);
        m.scales[2] = m.scales[0];
    }
    return m;
}

void CheckDotsAndTopK(const std::string& variant, int64_t n_q, int64_t dim, int64_t n_rows, bool f16) {
    SCOPED_TRACE(::testing::Message() << variant << (f16 ? " f16" : " q8") << " q=" << n_q << " dim=" << dim << " rows=" << n_rows);
    const int64_t stride = dim + (dim % 3);
    auto queries = Normal(static_cast<size_t>(n_q * dim), static_cast<uint32_t>(dim * 7 + n_rows));
    Q8Matrix q8 = MakeQ8(n_rows, dim, stride, static_cast<uint32_t>(dim + n_rows));
    std::vector<uint16_t> h(static_cast<size_t>(n_rows * stride + 1), 0);
    auto hv = Normal(static_cast<size_t>(n_rows * stride), static_cast<uint32_t>(dim + 3 * n_rows), 0.1f);
    for (size_t i = 0; i < hv.size(); ++i) h[i + 1] = ToHalf(hv[i]);
    if (n_rows > 4) { h[1 + 4 * stride] = 0x7E00; h[1 + 3 * stride] = 0x7C00; }  // NaN row 4, +inf row 3
    // Unaligned starts (+1 element) on purpose.
    const int8_t* q8rows = q8.data.data() + 1;
    const uint16_t* f16rows = h.data() + 1;

    std::vector<float> scores(static_cast<size_t>(n_q * n_rows));
    VariantScope scope(variant);
    if (f16)
        ASSERT_EQ(fr_dot_rows_f16_f32(queries.data(), n_q, dim, f16rows, stride, n_rows, scores.data()), FR_OK);
    else
        ASSERT_EQ(fr_dot_rows_q8_f32(queries.data(), n_q, dim, q8rows, stride, q8.scales.data(), n_rows, scores.data()), FR_OK);
    for (int64_t q = 0; q < n_q; ++q)
        for (int64_t r = 0; r < n_rows; ++r) {
            double ref = 0, l1 = 0;
            for (int64_t i = 0; i < dim; ++i) {
                double w = f16 ? FromHalf(f16rows[r * stride + i]) : q8rows[r * stride + i] * static_cast<double>(q8.scales[static_cast<size_t>(r)]);
                double p = queries[static_cast<size_t>(q * dim + i)] * w;
                ref += p;
                l1 += std::fabs(p);
            }
            ASSERT_TRUE(Near(scores[static_cast<size_t>(q * n_rows + r)], ref, 1e-6, 0) ||
                        Near(scores[static_cast<size_t>(q * n_rows + r)], ref, 1e-6 + 2e-5 * l1, 0))
                << "query " << q << " row " << r;
        }
    for (int32_t k : { 1, 7, 100, static_cast<int32_t>(n_rows) + 1 }) {
        int32_t c = static_cast<int32_t>(std::min<int64_t>(k, n_rows));
        std::vector<int32_t> idx(static_cast<size_t>(n_q * c));
        std::vector<float> val(static_cast<size_t>(n_q * c));
        int32_t count = -1;
        if (f16)
            ASSERT_EQ(fr_topk_dot_f16_f32(queries.data(), n_q, dim, f16rows, stride, n_rows, k, idx.data(), val.data(), &count), FR_OK);
        else
            ASSERT_EQ(fr_topk_dot_q8_f32(queries.data(), n_q, dim, q8rows, stride, q8.scales.data(), n_rows, k, idx.data(),
                                         val.data(), &count), FR_OK);
        ASSERT_EQ(count, c);
        for (int64_t q = 0; q < n_q; ++q) {
            auto expected = OracleTopK(scores.data() + q * n_rows, n_rows, k);
            for (int32_t i = 0; i < c; ++i) {
                ASSERT_EQ(idx[static_cast<size_t>(q * c + i)], expected[static_cast<size_t>(i)]) << "k " << k << " rank " << i;
                ASSERT_TRUE(SameFloat(val[static_cast<size_t>(q * c + i)], scores[static_cast<size_t>(q * n_rows + expected[i])]));
            }
        }
    }
}

}  // namespace

TEST(Embeddings, Q8AndF16AcrossShapes) {
    for (const auto& variant : SupportedVariants())
        for (bool f16 : { false, true })
            for (int64_t dim : { 1, 7, 16, 17, 63, 64, 65, 384, 1000 })
                for (int64_t n_q : { 1, 2, 5 })
                    for (int64_t rows : { 1, 6, 300 }) {
                        CheckDotsAndTopK(variant, n_q, dim, rows, f16);
                        if (HasFatalFailure()) return;
                    }
}

TEST(Embeddings, ManyRowsAcrossScoreBlocks) {
    for (const auto& variant : SupportedVariants()) {
        CheckDotsAndTopK(variant, 1, 128, 5000, false);
        CheckDotsAndTopK(variant, 3, 96, 1000, true);
    }
}

TEST(Embeddings, ScoresOptionalAndEmptyInputs) {
    auto queries = Normal(32, 1);
    Q8Matrix m = MakeQ8(10, 32, 32, 2);
    std::vector<int32_t> idx(3);
    int32_t count = -1;
    ASSERT_EQ(fr_topk_dot_q8_f32(queries.data(), 1, 32, m.data.data() + 1, 32, m.scales.data(), 10, 3, idx.data(), nullptr, &count), FR_OK);
    EXPECT_EQ(count, 3);
    ASSERT_EQ(fr_topk_dot_q8_f32(queries.data(), 1, 32, m.data.data() + 1, 32, m.scales.data(), 0, 3, idx.data(), nullptr, &count), FR_OK);
    EXPECT_EQ(count, 0);
    EXPECT_EQ(fr_topk_dot_q8_f32(queries.data(), 1, 32, m.data.data() + 1, 16, m.scales.data(), 10, 3, idx.data(), nullptr, &count),
              FR_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(fr_dot_rows_q8_f32(queries.data(), 1, 32, m.data.data() + 1, 32, nullptr, 10, nullptr), FR_ERR_NULL_ARGUMENT);
}
