// Log-sum-exp, gathered log-probabilities and restricted softmax against a double-precision reference.
// Tolerance: |got - ref| <= 2e-5 + 2e-6 * |ref| for log-sum-exp and log-probabilities (float
// accumulation over up to 152k terms), 1e-6 absolute for probabilities.
#include "test_support.h"

using namespace frtest;

namespace {

double RefLse(const float* x, int64_t n) {
    double m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) return NAN;
        m = std::max<double>(m, x[i]);
    }
    if (std::isinf(m)) return m;
    long double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<long double>(x[i]) - m);
    return m + static_cast<double>(std::log(s));
}

constexpr double kAbs = 2e-5, kRel = 2e-6;

void CheckLse(const std::vector<float>& x, int64_t rows, int64_t vocab, int64_t stride, const std::string& what) {
    std::vector<double> ref(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) ref[static_cast<size_t>(r)] = RefLse(x.data() + r * stride, vocab);
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        std::vector<float> got(static_cast<size_t>(rows));
        ASSERT_EQ(fr_logsumexp_rows_f32(x.data(), rows, vocab, stride, got.data()), FR_OK);
        for (int64_t r = 0; r < rows; ++r)
            ASSERT_TRUE(Near(got[static_cast<size_t>(r)], ref[static_cast<size_t>(r)], kAbs, kRel))
                << variant << " " << what << " vocab " << vocab << " row " << r;
    }
}

}  // namespace

TEST(LogSumExp, RandomRowsAcrossLengths) {
    for (int64_t vocab : { 1, 2, 5, 15, 16, 17, 63, 64, 65, 100, 1000, 32000, 152064 }) {
        const int64_t rows = 3, stride = vocab + 3;
        CheckLse(Normal(static_cast<size_t>(rows * stride), static_cast<uint32_t>(vocab), 6.0f), rows, vocab, stride, "normal");
        if (HasFatalFailure()) return;
    }
}

TEST(LogSumExp, AdversarialRows) {
    const int64_t vocab = 131;
    std::vector<std::vector<float>> rows;
    rows.push_back(std::vector<float>(vocab, -kInf));                 // all -inf: lse = -inf
    auto one_inf = Normal(vocab, 1); one_inf[70] = kInf; rows.push_back(one_inf);   // +inf: lse = +inf
    auto one_nan = Normal(vocab, 2); one_nan[129] = kNaN; rows.push_back(one_nan);  // NaN anywhere: NaN
    auto some_ninf = Normal(vocab, 3); for (int i = 0; i < vocab; i += 3) some_ninf[i] = -kInf; rows.push_back(some_ninf);
    auto huge = Normal(vocab, 4); huge[5] = 1e30f; huge[6] = -1e30f; rows.push_back(huge);
    std::vector<float> denorm(vocab, kDenorm); rows.push_back(denorm);
    std::vector<float> same(vocab, 7.25f); rows.push_back(same);
    auto spread = Normal(vocab, 5, 200.0f); rows.push_back(spread);   // most terms underflow
    for (size_t i = 0; i < rows.size(); ++i) CheckLse(rows[i], 1, vocab, vocab, "adversarial #" + std::to_string(i));
}

TEST(LogSumExp, UnalignedRows) {
    const int64_t vocab = 1029, rows = 4, stride = 1031;
    auto buffer = Normal(static_cast<size_t>(rows * stride + 1), 77, 3.0f);
    std::vector<float> shifted(buffer.begin() + 1, buffer.end());
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        std::vector<float> got(rows);
        ASSERT_EQ(fr_logsumexp_rows_f32(buffer.data() + 1, rows, vocab, stride, got.data()), FR_OK);
        for (int64_t r = 0; r < rows; ++r)
            EXPECT_TRUE(Near(got[static_cast<size_t>(r)], RefLse(shifted.data() + r * stride, vocab), kAbs, kRel)) << variant;
    }
}

TEST(GatherLogProbs, MatchesReference) {
    const int64_t vocab = 152064, rows = 3, stride = vocab;
    auto x = Normal(static_cast<size_t>(rows * stride), 8, 4.0f);
    const int32_t ids[] = { 0, 9454, 2753, 151935, 9454 };  // duplicates are allowed
    for (const auto& variant : SupportedVariants()) {
        VariantScope scope(variant);
        std::vector<float> lp(rows * 5), lse(rows);
        ASSERT_EQ(fr_gather_logprobs_f32(x.data(), rows, vocab, stride, ids, 5, lp.data(), lse.data()), FR_OK);
        for (int64_t r = 0; r < rows; ++r) {
            double ref = RefLse(x.data() + r * stride, vocab);
            EXPECT_TRUE(Near(lse[static_cast<size_t>(r)], ref, kAbs, kRel));
            for (int i = 0; i < 5; ++i)
                EXPECT_TRUE(Near(lp[static_cast<size_t>(r * 5 + i)], x[static_cast<size_t>(r * stride + ids[i])] - ref, kAbs, kRel))
                    << variant;
        }
        // out_lse is optional.
        ASSERT_EQ(fr_gather_logprobs_f32(x.data(), rows, vocab, stride, ids, 5, lp.data(), nullptr), FR_OK);
    }
}

TEST(GatherLogProbs, RejectsIdsOutsideTheVocabulary) {
    float x[4] = { 1, 2, 3, 4 };
    int32_t bad[] = { 4 };
    float out[1];
    EXPECT_EQ(fr_gather_logprobs_f32(x, 1, 4, 4, bad, 1, out, nullptr), FR_ERR_INVALID_ARGUMENT);
    int32_t neg[] = { -1 };
    EXPECT_EQ(fr_restricted_softmax_f32(x, 1, 4, 4, neg, 1, out), FR_ERR_INVALID_ARGUMENT);
    const char* message = nullptr;
    ASSERT_EQ(fr_last_error(&message), FR_OK);
    EXPECT_NE(std::string(message).find("ids[0]"), std::string::npos) << message;
}

TEST(RestrictedSoftmax, MatchesReferenceAndEdgeRules) {
    const int64_t vocab = 300, rows = 4;
    auto x = Normal(static_cast<size_t>(rows * vocab), 21, 5.0f);
    x[1 * vocab + 7] = kNaN;   // row 1: NaN in the set -> all NaN
    x[2 * vocab + 8] = kInf;   // row 2: +inf in the set -> all NaN
    x[3 * vocab + 9] = -kInf;  // row 3: -inf in the set is fine (probability 0)
    const int32_t ids[] = { 7, 8, 9, 250 };
    std::vector<float> p(rows * 4);
    ASSERT_EQ(fr_restricted_softmax_f32(x.data(), rows, vocab, vocab, ids, 4, p.data()), FR_OK);
    auto ref_row = [&](int64_t r, int i) {
        double m = -INFINITY;
        for (int j = 0; j < 4; ++j) m = std::max<double>(m, x[static_cast<size_t>(r * vocab + ids[j])]);
        double s = 0;
        for (int j = 0; j < 4; ++j) s += std::exp(x[static_cast<size_t>(r * vocab + ids[j])] - m);
        return std::exp(x[static_cast<size_t>(r * vocab + ids[i])] - m) / s;
    };
    for (int i = 0; i < 4; ++i) {
        EXPECT_TRUE(Near(p[static_cast<size_t>(i)], ref_row(0, i), 1e-6, 0));
        EXPECT_TRUE(std::isnan(p[static_cast<size_t>(4 + i)]));
        EXPECT_TRUE(std::isnan(p[static_cast<size_t>(8 + i)]));
        EXPECT_TRUE(Near(p[static_cast<size_t>(12 + i)], ref_row(3, i), 1e-6, 0));
    }
    EXPECT_EQ(p[12 + 2], 0.0f);
}
