// Attention reduction, span sums and masked calibration against double references.
// Tolerances: accumulation |got - ref| <= 1e-6 + 1e-5 * |ref| (float sums of up to a few thousand
// rows); span sums: 2^-21 * sum|x| (fastrank.h); calibration is computed in double: 1e-6 relative.
#include "test_support.h"

using namespace frtest;

namespace {

struct Tensor {
    std::vector<unsigned char> bytes;
    int64_t ne[4];
    int64_t nb[4];
    float& at(int64_t c, int64_t t, int64_t h, int64_t s) {
        return *reinterpret_cast<float*>(bytes.data() + c * nb[0] + t * nb[1] + h * nb[2] + s * nb[3]);
    }
};

// A tensor with padded strides (row_pad floats after each row) and, optionally, cells not contiguous.
Tensor MakeTensor(int64_t n_kv, int64_t n_tok, int64_t n_head, int64_t n_stream, int64_t row_pad, bool cell_stride2,
                  uint32_t seed, int64_t byte_offset = 0) {
    Tensor t;
    t.ne[0] = n_kv; t.ne[1] = n_tok; t.ne[2] = n_head; t.ne[3] = n_stream;
    t.nb[0] = cell_stride2 ? 8 : 4;
    t.nb[1] = t.nb[0] * n_kv + row_pad * 4;
    t.nb[2] = t.nb[1] * n_tok + 12;
    t.nb[3] = t.nb[2] * n_head;
    t.bytes.assign(static_cast<size_t>(t.nb[3] * n_stream + byte_offset + 16), 0);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int64_t s = 0; s < n_stream; ++s)
        for (int64_t h = 0; h < n_head; ++h)
            for (int64_t tok = 0; tok < n_tok; ++tok)
                for (int64_t c = 0; c < n_kv; ++c) {
                    float* p = reinterpret_cast<float*>(t.bytes.data() + byte_offset + c * t.nb[0] + tok * t.nb[1] +
                                                        h * t.nb[2] + s * t.nb[3]);
                    float v = u(rng);
                    *p = (c % 5 == 0) ? 0.0f : (c % 11 == 0 ? kDenorm : v);  // masked cells are exactly 0
                }
    return t;
}

std::vector<double> RefAccumulate(const unsigned char* data, const int64_t* ne, const int64_t* nb, int64_t row0,
                                  int64_t row1, int64_t stream, double scale) {
    std::vector<double> acc(static_cast<size_t>(ne[0]), 0.0);
    for (int64_t c = 0; c < ne[0]; ++c)
        for (int64_t h = 0; h < ne[2]; ++h)
            for (int64_t t = row0; t < row1; ++t) {
                float v;
                std::memcpy(&v, data + c * nb[0] + t * nb[1] + h * nb[2] + stream * nb[3], 4);
                acc[static_cast<size_t>(c)] += scale * v;
            }
    return acc;
}

void CheckAccumulate(const Tensor& t, int64_t row0, int64_t row1, int64_t stream, float scale, int64_t byte_offset) {
    const unsigned char* data = t.bytes.data() + byte_offset;
    auto ref = RefAccumulate(data, t.ne, t.nb, row0, row1, stream, scale);
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        std::vector<float> acc(static_cast<size_t>(t.ne[0]), 0.5f);  // accumulates onto what is there
        ASSERT_EQ(fr_attn_accumulate_f32(data, t.ne, t.nb, row0, row1, stream, scale, acc.data()), FR_OK);
        for (int64_t c = 0; c < t.ne[0]; ++c)
            ASSERT_TRUE(Near(acc[static_cast<size_t>(c)], 0.5 + ref[static_cast<size_t>(c)], 1e-6, 1e-5))
                << variant << " n_kv " << t.ne[0] << " cell " << c;
    }
}

}  // namespace

TEST(Attention, ContiguousAndPaddedLayouts) {
    for (int64_t n_kv : { 1, 15, 16, 17, 33, 256, 1000 }) {
        for (int64_t heads : { 1, 3, 8 }) {
            auto t = MakeTensor(n_kv, 9, heads, 2, n_kv % 3, false, static_cast<uint32_t>(n_kv * heads));
            CheckAccumulate(t, 0, 9, 0, 1.0f, 0);
            CheckAccumulate(t, 2, 7, 1, 0.125f, 0);
            if (HasFatalFailure()) return;
        }
    }
}

TEST(Attention, UnalignedDataPointer) {
    auto t = MakeTensor(129, 5, 4, 1, 1, false, 3, 4);
    CheckAccumulate(t, 1, 5, 0, 0.25f, 4);
}

TEST(Attention, NonContiguousCells) {
    auto t = MakeTensor(67, 4, 3, 1, 0, true, 17);
    CheckAccumulate(t, 0, 4, 0, 2.0f, 0);
}

TEST(Attention, ManyRowsMoreThanOneBatch) {
    auto t = MakeTensor(300, 50, 8, 1, 0, false, 99);  // 400 rows: several row-pointer batches
    CheckAccumulate(t, 3, 50, 0, 1.0f / 47.0f, 0);
}

TEST(Attention, EmptyRangesAreNoOps) {
    auto t = MakeTensor(8, 2, 2, 1, 0, false, 1);
    std::vector<float> acc(8, 1.0f);
    EXPECT_EQ(fr_attn_accumulate_f32(t.bytes.data(), t.ne, t.nb, 1, 1, 0, 1.0f, acc.data()), FR_OK);
    for (float a : acc) EXPECT_EQ(a, 1.0f);
}

TEST(Attention, RejectsBadRangesAndStreams) {
    auto t = MakeTensor(8, 2, 2, 1, 0, false, 1);
    std::vector<float> acc(8);
    EXPECT_EQ(fr_attn_accumulate_f32(t.bytes.data(), t.ne, t.nb, 0, 3, 0, 1.0f, acc.data()), FR_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(fr_attn_accumulate_f32(t.bytes.data(), t.ne, t.nb, 1, 0, 0, 1.0f, acc.data()), FR_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(fr_attn_accumulate_f32(t.bytes.data(), t.ne, t.nb, 0, 1, 1, 1.0f, acc.data()), FR_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(fr_attn_accumulate_f32(t.bytes.data(), t.ne, nullptr, 0, 1, 0, 1.0f, acc.data()), FR_ERR_NULL_ARGUMENT);
    EXPECT_EQ(fr_attn_accumulate_f32(t.bytes.data(), t.ne, t.nb, 0, 1, 0, 1.0f, nullptr), FR_ERR_NULL_ARGUMENT);
}

TEST(SpanSums, MatchReference) {
    auto v = Normal(5000, 4);
    v[100] = kDenorm;
    std::vector<fr_range> spans = { { 0, 0 }, { 0, 1 }, { 3, 20 }, { 17, 33 }, { 100, 1100 }, { 4990, 5000 }, { 0, 5000 } };
    for (int s = 0; s < 40; ++s) spans.push_back({ s, s + 65 + s });
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        std::vector<float> out(spans.size());
        ASSERT_EQ(fr_span_sums_f32(v.data(), 5000, spans.data(), static_cast<int64_t>(spans.size()), out.data()), FR_OK);
        for (size_t i = 0; i < spans.size(); ++i) {
            double ref = 0, l1 = 0;
            for (int32_t t = spans[i].start; t < spans[i].end; ++t) {
                ref += v[static_cast<size_t>(t)];
                l1 += std::fabs(v[static_cast<size_t>(t)]);
            }
            // The documented bound (2^-21 * sum|x|) plus the final rounding to float.
            EXPECT_TRUE(Near(out[i], ref, 4.8e-7 * l1, 1.2e-7)) << variant << " span " << i;
        }
    }
    fr_range bad = { 10, 5001 };
    float out;
    EXPECT_EQ(fr_span_sums_f32(v.data(), 5000, &bad, 1, &out), FR_ERR_INVALID_ARGUMENT);
}

namespace {

double RefCalibration(const float* q, const float* na, int32_t a, int32_t b) {
    int64_t n = b - a;
    if (n == 0) return 0;
    std::vector<double> c;
    for (int32_t t = a; t < b; ++t) c.push_back(static_cast<double>(q[t]) - na[t]);
    for (double x : c) if (!std::isfinite(x)) return NAN;
    if (n == 1) return c[0];
    if (*std::min_element(c.begin(), c.end()) == *std::max_element(c.begin(), c.end())) return 0;
    double mean = std::accumulate(c.begin(), c.end(), 0.0) / static_cast<double>(n);
    double dev = 0;
    for (double x : c) dev += (x - mean) * (x - mean);
    double thr = mean - 2 * std::sqrt(dev / static_cast<double>(n - 1));
    double score = 0;
    for (double x : c) if (x > thr) score += x;
    return score;
}

}  // namespace

TEST(MaskedCalibration, MatchesReferenceAndEdgeRules) {
    const int64_t n = 4000;
    auto q = Normal(n, 31, 0.01f);
    auto na = Normal(n, 32, 0.01f);
    // Outliers low enough to be masked out.
    for (int t = 50; t < n; t += 97) q[static_cast<size_t>(t)] -= 0.2f;
    std::vector<fr_range> docs = { { 0, 0 }, { 5, 6 }, { 10, 12 }, { 20, 45 }, { 45, 345 }, { 345, 1000 }, { 1000, 4000 } };
    for (int s = 0; s < 20; ++s) docs.push_back({ 2000 + s, 2000 + s + 8 + 3 * s });
    // Edge documents: constant c, non-finite c.
    for (int t = 3000; t < 3010; ++t) { q[static_cast<size_t>(t)] = 0.5f; na[static_cast<size_t>(t)] = 0.25f; }
    docs.push_back({ 3000, 3010 });
    q[3500] = kNaN;
    docs.push_back({ 3490, 3510 });
    na[3600] = kInf;
    docs.push_back({ 3600, 3601 });
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        std::vector<float> out(docs.size());
        ASSERT_EQ(fr_masked_calibration_f32(q.data(), na.data(), n, docs.data(), static_cast<int64_t>(docs.size()), out.data()),
                  FR_OK);
        for (size_t i = 0; i < docs.size(); ++i)
            EXPECT_TRUE(Near(out[i], RefCalibration(q.data(), na.data(), docs[i].start, docs[i].end), 1e-9, 1e-6))
                << variant << " doc " << i;
        EXPECT_EQ(out[0], 0.0f);                                    // empty
        EXPECT_FLOAT_EQ(out[1], static_cast<float>(static_cast<double>(q[5]) - na[5]));  // one token: c itself
        EXPECT_EQ(out[docs.size() - 3], 0.0f);                      // constant c: nothing above the mean
        EXPECT_TRUE(std::isnan(out[docs.size() - 2]));              // NaN
        EXPECT_TRUE(std::isnan(out[docs.size() - 1]));              // inf
    }
}
