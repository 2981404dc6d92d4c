// fr_cuda_parity: every CUDA kernel against the CPU library's scalar reference ("scalar" variant).
// Exit codes: 0 all passed, 1 a mismatch or error, 77 no CUDA device (CTest reports "skipped").
// Tolerances as in the native unit tests: top-k exact; log-sum-exp 2e-5 + 2e-6|x|; probabilities
// 1e-6; attention 1e-6 + 1e-5|x|; span sums and calibration 1e-6 relative; dots 1e-6 + 2e-5 * L1.
#include "fastrank.h"
#include "fastrank_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

int failures = 0;
int checks = 0;

void Report(bool ok, const std::string& name, const std::string& detail) {
    ++checks;
    if (!ok) ++failures;
    std::printf("%s  %-44s %s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
}

bool Ok(fr_status s, const char* what) {
    if (s == FR_OK) return true;
    const char* m = "";
    fr_cuda_last_error(&m);
    std::printf("FAIL  %s: status %d: %s\n", what, static_cast<int>(s), m);
    ++failures;
    return false;
}

template <typename T>
struct DeviceArray {
    T* ptr = nullptr;
    size_t n = 0;
    explicit DeviceArray(size_t count) : n(count) {
        void* p = nullptr;
        Ok(fr_cuda_malloc(&p, std::max<size_t>(count, 1) * sizeof(T)), "fr_cuda_malloc");
        ptr = static_cast<T*>(p);
    }
    DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { Upload(host); }
    ~DeviceArray() { fr_cuda_free(ptr); }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;
    void Upload(const std::vector<T>& host) { Ok(fr_cuda_memcpy_to_device(ptr, host.data(), host.size() * sizeof(T), nullptr), "upload"); }
    std::vector<T> Download() const {
        std::vector<T> h(n);
        Ok(fr_cuda_memcpy_to_host(h.data(), ptr, n * sizeof(T), nullptr), "download");
        Ok(fr_cuda_synchronize(nullptr), "synchronize");
        return h;
    }
};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Normal(size_t n, uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

std::vector<float> Adversarial(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    const float pool[] = { 0.0f, -0.0f, 1.0f, -1.0f, kNaN, kInf, -kInf, 1e-40f, -1e-40f, 3.5f, 3.5f };
    std::vector<float> v(n);
    for (auto& x : v) x = pool[rng() % (sizeof pool / sizeof pool[0])];
    return v;
}

bool SameFloat(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::memcmp(&a, &b, 4) == 0;
}

double ErrRel(double got, double ref, double abs_tol, double rel_tol) {  // <= 1 passes
    if (std::isnan(got) || std::isnan(ref)) return std::isnan(got) && std::isnan(ref) ? 0 : 1e9;
    if (std::isinf(got) || std::isinf(ref)) return got == ref ? 0 : 1e9;
    return std::fabs(got - ref) / (abs_tol + rel_tol * std::fabs(ref));
}

struct Scalar {  // pins the CPU reference for the scope
    Scalar() { fr_set_thread_kernel_variant("scalar"); }
    ~Scalar() { fr_set_thread_kernel_variant(nullptr); }
};

void TopK(const std::string& name, const std::vector<float>& x, int64_t rows, int64_t cols, int64_t stride, int32_t k) {
    int32_t c = static_cast<int32_t>(std::min<int64_t>(k, cols));
    std::vector<int32_t> ref_idx(static_cast<size_t>(rows * c));
    std::vector<float> ref_val(static_cast<size_t>(rows * c));
    int32_t count = 0;
    {
        Scalar s;
        Ok(fr_topk_rows_f32(x.data(), rows, cols, stride, k, ref_idx.data(), ref_val.data(), &count), "cpu top-k");
    }
    DeviceArray<float> dx(x);
    DeviceArray<int32_t> di(ref_idx.size());
    DeviceArray<float> dv(ref_val.size());
    int32_t dcount = 0;
    if (!Ok(fr_cuda_topk_rows_f32(dx.ptr, rows, cols, stride, k, di.ptr, dv.ptr, &dcount, nullptr), name.c_str())) return;
    auto gi = di.Download();
    auto gv = dv.Download();
    size_t bad = 0;
    for (size_t i = 0; i < gi.size(); ++i)
        if (gi[i] != ref_idx[i] || !SameFloat(gv[i], ref_val[i])) ++bad;
    Report(bad == 0 && dcount == count, name, "rows " + std::to_string(rows) + " x " + std::to_string(cols) + ", k " +
                                              std::to_string(k) + ": " + std::to_string(bad) + " mismatches");
}

void Logits() {
    const int64_t vocab = 152064, rows = 4, stride = vocab + 7;
    auto x = Normal(static_cast<size_t>(rows * stride), 3, 5.0f);
    x[static_cast<size_t>(1 * stride + 10)] = kNaN;    // row 1: NaN -> NaN
    x[static_cast<size_t>(2 * stride + 99)] = kInf;    // row 2: +inf -> +inf
    for (int64_t i = 0; i < vocab; i += 2) x[static_cast<size_t>(3 * stride + i)] = -kInf;
    const std::vector<int32_t> ids = { 0, 15, 9454, 151935, 99, 10 };
    std::vector<float> lse(rows), lp(rows * ids.size()), p(rows * ids.size());
    {
        Scalar s;
        Ok(fr_gather_logprobs_f32(x.data(), rows, vocab, stride, ids.data(), static_cast<int32_t>(ids.size()), lp.data(), lse.data()), "cpu gather");
        Ok(fr_restricted_softmax_f32(x.data(), rows, vocab, stride, ids.data(), static_cast<int32_t>(ids.size()), p.data()), "cpu softmax");
    }
    DeviceArray<float> dx(x), dlse(rows), dlp(lp.size()), dp(p.size()), dlse2(rows);
    Ok(fr_cuda_logsumexp_rows_f32(dx.ptr, rows, vocab, stride, dlse2.ptr, nullptr), "cuda lse");
    Ok(fr_cuda_gather_logprobs_f32(dx.ptr, rows, vocab, stride, ids.data(), static_cast<int32_t>(ids.size()), dlp.ptr, dlse.ptr, nullptr), "cuda gather");
    Ok(fr_cuda_restricted_softmax_f32(dx.ptr, rows, vocab, stride, ids.data(), static_cast<int32_t>(ids.size()), dp.ptr, nullptr), "cuda softmax");
    auto g_lse = dlse.Download(), g_lse2 = dlse2.Download(), g_lp = dlp.Download(), g_p = dp.Download();
    double worst = 0;
    for (size_t r = 0; r < static_cast<size_t>(rows); ++r) {
        worst = std::max(worst, ErrRel(g_lse[r], lse[r], 2e-5, 2e-6));
        worst = std::max(worst, ErrRel(g_lse2[r], lse[r], 2e-5, 2e-6));
    }
    Report(worst <= 1, "logsumexp_rows (152k vocab, NaN/inf rows)", "worst error/tolerance " + std::to_string(worst));
    worst = 0;
    for (size_t i = 0; i < lp.size(); ++i) worst = std::max(worst, ErrRel(g_lp[i], lp[i], 2e-5, 2e-6));
    Report(worst <= 1, "gather_logprobs", "worst error/tolerance " + std::to_string(worst));
    worst = 0;
    for (size_t i = 0; i < p.size(); ++i) worst = std::max(worst, ErrRel(g_p[i], p[i], 1e-6, 0));
    Report(worst <= 1, "restricted_softmax", "worst error/tolerance " + std::to_string(worst));
}

void Attention() {
    // kq_soft_max-like tensor: n_kv 1000 (not a multiple of 32), rows padded, 2 streams.
    const int64_t ne[4] = { 1000, 13, 12, 2 };
    const int64_t nb[4] = { 4, 4 * 1024, 4 * 1024 * 13 + 64, (4 * 1024 * 13 + 64) * 12 };
    std::vector<float> data(static_cast<size_t>(nb[3] * 2 / 4));
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0, 1);
    for (auto& v : data) v = u(rng);
    std::vector<float> acc(1000, 0.25f);
    {
        Scalar s;
        Ok(fr_attn_accumulate_f32(data.data(), ne, nb, 2, 11, 1, 0.5f, acc.data()), "cpu attention");
    }
    DeviceArray<float> dd(data), dacc(std::vector<float>(1000, 0.25f));
    Ok(fr_cuda_attn_accumulate_f32(dd.ptr, ne, nb, 2, 11, 1, 0.5f, dacc.ptr, nullptr), "cuda attention");
    auto g = dacc.Download();
    double worst = 0;
    for (size_t i = 0; i < acc.size(); ++i) worst = std::max(worst, ErrRel(g[i], acc[i], 1e-6, 1e-5));
    Report(worst <= 1, "attn_accumulate (device pointer, strided)", "worst error/tolerance " + std::to_string(worst));
    // Determinism: a second run from the same start gives the same bits.
    DeviceArray<float> dacc2(std::vector<float>(1000, 0.25f));
    Ok(fr_cuda_attn_accumulate_f32(dd.ptr, ne, nb, 2, 11, 1, 0.5f, dacc2.ptr, nullptr), "cuda attention");
    auto g2 = dacc2.Download();
    Report(std::memcmp(g.data(), g2.data(), g.size() * 4) == 0, "attn_accumulate deterministic", "");
    const int64_t bad_nb[4] = { 2, 4 * 1024, 4 * 1024 * 13 + 64, (4 * 1024 * 13 + 64) * 12 };
    Report(fr_cuda_attn_accumulate_f32(dd.ptr, ne, bad_nb, 0, 1, 0, 1.0f, dacc.ptr, nullptr) == FR_ERR_INVALID_ARGUMENT,
           "attn_accumulate rejects misaligned strides", "");
}

void SpansAndCalibration() {
    const int64_t n = 30000;
    auto q = Normal(n, 8, 0.01f), na = Normal(n, 9, 0.01f);
    for (int64_t t = 40; t < n; t += 97) q[static_cast<size_t>(t)] -= 0.2f;
    std::vector<fr_range> docs = { { 0, 0 }, { 3, 4 }, { 10, 12 } };
    for (int32_t d = 0; d < 100; ++d) docs.push_back({ 100 + d * 290, 100 + d * 290 + 280 });
    for (int t = 20000; t < 20010; ++t) { q[static_cast<size_t>(t)] = 1; na[static_cast<size_t>(t)] = 0.5f; }
    docs.push_back({ 20000, 20010 });  // constant c -> 0
    q[25000] = kNaN;
    docs.push_back({ 24990, 25010 });  // NaN -> NaN
    std::vector<float> sums(docs.size()), cal(docs.size());
    {
        Scalar s;
        Ok(fr_span_sums_f32(q.data(), n, docs.data(), static_cast<int64_t>(docs.size()), sums.data()), "cpu spans");
        Ok(fr_masked_calibration_f32(q.data(), na.data(), n, docs.data(), static_cast<int64_t>(docs.size()), cal.data()), "cpu calibration");
    }
    DeviceArray<float> dq(q), dna(na), dsum(docs.size()), dcal(docs.size());
    Ok(fr_cuda_span_sums_f32(dq.ptr, n, docs.data(), static_cast<int64_t>(docs.size()), dsum.ptr, nullptr), "cuda spans");
    Ok(fr_cuda_masked_calibration_f32(dq.ptr, dna.ptr, n, docs.data(), static_cast<int64_t>(docs.size()), dcal.ptr, nullptr), "cuda calibration");
    auto gs = dsum.Download(), gc = dcal.Download();
    double ws = 0, wc = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
        ws = std::max(ws, ErrRel(gs[i], sums[i], 1e-7, 1e-6));
        wc = std::max(wc, ErrRel(gc[i], cal[i], 1e-7, 1e-6));
    }
    Report(ws <= 1, "span_sums", "worst error/tolerance " + std::to_string(ws));
    Report(wc <= 1, "masked_calibration (incl. edge documents)", "worst error/tolerance " + std::to_string(wc));
}

uint16_t ToHalf(float f) {  // round to nearest even, finite normal range (test data is)
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t e = static_cast<int32_t>((x >> 23) & 0xFF) - 112;
    if (e <= 0) return static_cast<uint16_t>(sign);
    uint32_t h = (static_cast<uint32_t>(e) << 10) | ((x & 0x7FFFFFu) >> 13), rem = x & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
}

void Embeddings() {
    const int64_t n_q = 3, dim = 385, n_rows = 20000, stride = 392;
    auto queries = Normal(static_cast<size_t>(n_q * dim), 10);
    std::mt19937 rng(11);
    std::vector<int8_t> q8(static_cast<size_t>(n_rows * stride));
    for (auto& v : q8) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<float> scales(static_cast<size_t>(n_rows));
    for (auto& s : scales) s = 0.001f + 0.01f * static_cast<float>(rng() % 100) / 100.0f;
    auto hv = Normal(static_cast<size_t>(n_rows * stride), 12, 0.1f);
    std::vector<uint16_t> f16(hv.size());
    for (size_t i = 0; i < hv.size(); ++i) f16[i] = ToHalf(hv[i]);
    for (int pass = 0; pass < 2; ++pass) {
        const bool half = pass == 1;
        std::vector<float> ref(static_cast<size_t>(n_q * n_rows));
        {
            Scalar s;
            if (half) Ok(fr_dot_rows_f16_f32(queries.data(), n_q, dim, f16.data(), stride, n_rows, ref.data()), "cpu dots");
            else Ok(fr_dot_rows_q8_f32(queries.data(), n_q, dim, q8.data(), stride, scales.data(), n_rows, ref.data()), "cpu dots");
        }
        DeviceArray<float> dqs(queries), dsc(scales), dout(ref.size());
        DeviceArray<int8_t> dq8(q8);
        DeviceArray<uint16_t> df16(f16);
        if (half) Ok(fr_cuda_dot_rows_f16_f32(dqs.ptr, n_q, dim, df16.ptr, stride, n_rows, dout.ptr, nullptr), "cuda dots");
        else Ok(fr_cuda_dot_rows_q8_f32(dqs.ptr, n_q, dim, dq8.ptr, stride, dsc.ptr, n_rows, dout.ptr, nullptr), "cuda dots");
        auto g = dout.Download();
        double worst = 0;
        for (int64_t q = 0; q < n_q; ++q)
            for (int64_t r = 0; r < n_rows; ++r) {
                double l1 = 0;
                for (int64_t i = 0; i < dim; ++i) {
                    double w = half ? 0.1 * 4 : 127.0 * scales[static_cast<size_t>(r)];  // bound on |row| entries
                    l1 += std::fabs(queries[static_cast<size_t>(q * dim + i)]) * w;
                }
                size_t j = static_cast<size_t>(q * n_rows + r);
                worst = std::max(worst, ErrRel(g[j], ref[j], 1e-6 + 2e-5 * l1, 0));
            }
        Report(worst <= 1, half ? "dot_rows_f16" : "dot_rows_q8", "worst error/tolerance " + std::to_string(worst));
        // Fused top-k: exactly the CPU oracle (scalar top-k) over the GPU's own scores.
        const int32_t k = 100;
        std::vector<int32_t> ref_idx(static_cast<size_t>(n_q * k));
        std::vector<float> ref_val(ref_idx.size());
        int32_t count = 0;
        {
            Scalar s;
            Ok(fr_topk_rows_f32(g.data(), n_q, n_rows, n_rows, k, ref_idx.data(), ref_val.data(), &count), "cpu top-k");
        }
        DeviceArray<int32_t> di(ref_idx.size());
        DeviceArray<float> dv(ref_idx.size());
        int32_t dcount = 0;
        if (half) Ok(fr_cuda_topk_dot_f16_f32(dqs.ptr, n_q, dim, df16.ptr, stride, n_rows, k, di.ptr, dv.ptr, &dcount, nullptr), "cuda topk f16");
        else Ok(fr_cuda_topk_dot_q8_f32(dqs.ptr, n_q, dim, dq8.ptr, stride, dsc.ptr, n_rows, k, di.ptr, dv.ptr, &dcount, nullptr), "cuda topk q8");
        auto gi = di.Download();
        auto gv = dv.Download();
        size_t bad = 0;
        for (size_t i = 0; i < gi.size(); ++i)
            if (gi[i] != ref_idx[i] || !SameFloat(gv[i], ref_val[i])) ++bad;
        Report(bad == 0 && dcount == count, half ? "topk_dot_f16 (fused)" : "topk_dot_q8 (fused)", std::to_string(bad) + " mismatches");
    }
}

}  // namespace

int main() {
    int32_t devices = 0;
    fr_cuda_device_count(&devices);
    if (devices == 0) {
        const char* why = "";
        fr_cuda_last_error(&why);
        std::printf("SKIPPED: no CUDA device (%s). The CUDA kernels were compiled and linked but not run.\n", why);
        return 77;
    }
    char desc[256];
    fr_cuda_device_description(0, desc, sizeof desc);
    std::printf("fr_cuda_parity on %s\n", desc);

    TopK("topk_rows normal", Normal(5 * 10007, 1), 5, 10000, 10007, 10);
    TopK("topk_rows adversarial (NaN, inf, ties, -0)", Adversarial(7 * 4099, 2), 7, 4099, 4099, 100);
    TopK("topk_rows k = n", Adversarial(3 * 1500, 3), 3, 1500, 1500, 1500);
    TopK("topk_rows k = 2048", Normal(2 * 300000, 4), 2, 300000, 300000, 2048);
    TopK("topk_rows short rows", Normal(64 * 33, 5), 64, 33, 33, 7);
    TopK("topk 1M, k 100", Normal(1 << 20, 6), 1, 1 << 20, 1 << 20, 100);
    std::vector<float> constant(100000, 1.5f);
    TopK("topk constant row (all ties)", constant, 1, 100000, 100000, 50);
    {
        DeviceArray<float> dx(4000);
        DeviceArray<int32_t> di(4000);
        int32_t c = 0;
        Report(fr_cuda_topk_rows_f32(dx.ptr, 1, 4000, 4000, 3000, di.ptr, nullptr, &c, nullptr) == FR_ERR_UNSUPPORTED,
               "topk_rows k > 2048 is FR_ERR_UNSUPPORTED", "");
    }
    Logits();
    Attention();
    SpansAndCalibration();
    Embeddings();
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
