// fastrank_bench: kernel timings against a memory copy of the same bytes, as a Markdown report.
// Usage: fastrank_bench [--quick]. Each figure is the median of several repetitions, interleaved
// with the copy it is compared with, so machine noise hits both alike.
#include "fastrank.h"
#if defined(FR_BENCH_CUDA)
#include "fastrank_cuda.h"
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

int g_reps = 15;

double Seconds(const std::function<void()>& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Median times of kernel and copy, run alternately after one warm-up each.
std::pair<double, double> Interleaved(const std::function<void()>& kernel, const std::function<void()>& copy) {
    kernel();
    copy();
    std::vector<double> a, b;
    for (int i = 0; i < g_reps; ++i) {
        a.push_back(Seconds(kernel));
        b.push_back(Seconds(copy));
    }
    std::nth_element(a.begin(), a.begin() + a.size() / 2, a.end());
    std::nth_element(b.begin(), b.begin() + b.size() / 2, b.end());
    return { a[a.size() / 2], b[b.size() / 2] };
}

void Row(const char* kernel, const std::string& variant, double bytes, std::pair<double, double> t) {
    double gbs = bytes / t.first / 1e9, copy_gbs = bytes / t.second / 1e9;
    std::printf("| %s | %s | %.1f | %.2f | %.2f | %.0f%% |\n", kernel, variant.c_str(), t.first * 1e6, gbs, copy_gbs,
                100.0 * gbs / copy_gbs);
    std::fflush(stdout);
}

std::vector<float> Normal(size_t n, uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

void CpuBenchmarks(bool quick) {
    std::printf("\n## CPU kernels (libfastrank_native)\n\n");
    std::printf("Bandwidth = input bytes / time; copy = memcpy of the same bytes in the same run.\n\n");
    std::printf("| kernel | variant | time (us) | GB/s | copy GB/s | of copy |\n|---|---|---:|---:|---:|---:|\n");
    const size_t n = 1 << 20;
    auto x = Normal(n, 1);
    std::vector<float> sink(n);
    const int64_t vocab = 152064, rows = 8;
    auto logits = Normal(static_cast<size_t>(vocab * rows), 2, 4.0f);
    std::vector<float> logits_copy(logits.size());
    const int64_t ne[4] = { 16384, quick ? 16 : 64, 16, 1 };
    const int64_t nb[4] = { 4, 4 * ne[0], 4 * ne[0] * ne[1], 4 * ne[0] * ne[1] * ne[2] };
    std::vector<float> attn(static_cast<size_t>(ne[0] * ne[1] * ne[2]), 1.0f / 16384.0f), attn_copy(attn.size());
    std::vector<float> acc(static_cast<size_t>(ne[0]));
    const int64_t dim = 384, erows = quick ? 20000 : 100000;
    std::vector<int8_t> q8(static_cast<size_t>(dim * erows));
    std::mt19937 rng(3);
    for (auto& v : q8) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<int8_t> q8_copy(q8.size());
    std::vector<float> scales(static_cast<size_t>(erows), 0.01f);
    auto query = Normal(dim, 4);
    const int32_t ids[] = { 9454, 2753 };
    for (const char* variant : { "scalar", "avx2", "avx512", "neon" }) {
        int32_t ok = 0;
        fr_kernel_variant_supported(variant, &ok);
        if (!ok) continue;
        fr_set_thread_kernel_variant(variant);
        int32_t idx[100], count = 0;
        float val[100];
        for (int32_t k : { 10, 100 }) {
            auto t = Interleaved([&] { fr_topk_f32(x.data(), static_cast<int64_t>(n), k, idx, val, &count); },
                                 [&] { std::memcpy(sink.data(), x.data(), n * 4); });
            Row(k == 10 ? "top-k 1M, k 10" : "top-k 1M, k 100", variant, n * 4.0, t);
        }
        float lp[16], lse[8];
        auto t = Interleaved([&] { fr_gather_logprobs_f32(logits.data(), rows, vocab, vocab, ids, 2, lp, lse); },
                             [&] { std::memcpy(logits_copy.data(), logits.data(), logits.size() * 4); });
        Row("log-probs 8 x 152064", variant, logits.size() * 4.0, t);
        t = Interleaved([&] { fr_attn_accumulate_f32(attn.data(), ne, nb, 0, ne[1], 0, 1.0f, acc.data()); },
                        [&] { std::memcpy(attn_copy.data(), attn.data(), attn.size() * 4); });
        Row("attention 16384 x 64 x 16", variant, attn.size() * 4.0, t);
        t = Interleaved([&] { fr_topk_dot_q8_f32(query.data(), 1, dim, q8.data(), dim, scales.data(), erows, 10, idx, val, &count); },
                        [&] { std::memcpy(q8_copy.data(), q8.data(), q8.size()); });
        Row("q8 dot + top-10, 384-dim", variant, static_cast<double>(q8.size()), t);
    }
    fr_set_thread_kernel_variant(nullptr);
}

#if defined(FR_BENCH_CUDA)
struct Dev {
    void* p = nullptr;
    explicit Dev(size_t bytes) { fr_cuda_malloc(&p, bytes); fr_cuda_memset_zero(p, bytes, nullptr); }
    ~Dev() { fr_cuda_free(p); }
    template <typename T> T* as() const { return static_cast<T*>(p); }
};

void CudaBenchmarks(bool quick) {
    int32_t devices = 0;
    fr_cuda_device_count(&devices);
    if (devices == 0) {
        const char* why = "";
        fr_cuda_last_error(&why);
        std::printf("\n## CUDA kernels\n\nSkipped: no CUDA device (%s).\n", why);
        return;
    }
    char desc[256];
    fr_cuda_device_description(0, desc, sizeof desc);
    std::printf("\n## CUDA kernels (libfastrank_cuda) on %s\n\n", desc);
    std::printf("Time per call including launch and stream synchronisation; copy = device-to-device copy of the same bytes.\n\n");
    std::printf("| kernel | shape | time (us) | GB/s | copy GB/s | of copy |\n|---|---|---:|---:|---:|---:|\n");
    auto sync = [] { fr_cuda_synchronize(nullptr); };
    auto run = [&](const char* name, const std::string& shape, size_t bytes, const void* src, const std::function<void()>& k) {
        Dev dst(bytes);
        auto t = Interleaved([&] { k(); sync(); }, [&] { fr_cuda_memcpy_device(dst.p, src, bytes, nullptr); sync(); });
        Row(name, shape, static_cast<double>(bytes), t);
    };
    {
        const int64_t n = 1 << 20;
        auto h = Normal(n, 1);
        Dev x(n * 4), idx(100 * 4), val(100 * 4);
        fr_cuda_memcpy_to_device(x.p, h.data(), n * 4, nullptr);
        int32_t c = 0;
        run("top-k, k 100", "1 x 1M", n * 4, x.p, [&] { fr_cuda_topk_rows_f32(x.as<float>(), 1, n, n, 100, idx.as<int32_t>(), val.as<float>(), &c, nullptr); });
    }
    {
        const int64_t vocab = 152064, rows = quick ? 64 : 256;
        auto h = Normal(static_cast<size_t>(vocab * rows), 2, 4.0f);
        Dev x(h.size() * 4), idx(rows * 10 * 4), lp(rows * 2 * 4);
        fr_cuda_memcpy_to_device(x.p, h.data(), h.size() * 4, nullptr);
        int32_t c = 0;
        const int32_t ids[] = { 9454, 2753 };
        run("top-k rows, k 10", std::to_string(rows) + " x 152064", h.size() * 4, x.p,
            [&] { fr_cuda_topk_rows_f32(x.as<float>(), rows, vocab, vocab, 10, idx.as<int32_t>(), nullptr, &c, nullptr); });
        run("log-probs", std::to_string(rows) + " x 152064", h.size() * 4, x.p,
            [&] { fr_cuda_gather_logprobs_f32(x.as<float>(), rows, vocab, vocab, ids, 2, lp.as<float>(), nullptr, nullptr); });
    }
    {
        const int64_t ne[4] = { 32768, quick ? 32 : 64, 32, 1 };
        const int64_t nb[4] = { 4, 4 * ne[0], 4 * ne[0] * ne[1], 4 * ne[0] * ne[1] * ne[2] };
        const size_t bytes = static_cast<size_t>(nb[3]);
        Dev x(bytes), acc(ne[0] * 4);
        run("attention", "32768 x " + std::to_string(ne[1]) + " x 32", bytes, x.p,
            [&] { fr_cuda_attn_accumulate_f32(x.p, ne, nb, 0, ne[1], 0, 1.0f, acc.as<float>(), nullptr); });
    }
    {
        const int64_t dim = 384, rows = quick ? 200000 : 1000000;
        Dev m(dim * rows), sc(rows * 4), q(dim * 4), idx(40), val(40);
        int32_t c = 0;
        run("q8 dot + top-10", std::to_string(rows) + " x 384", static_cast<size_t>(dim * rows), m.p,
            [&] { fr_cuda_topk_dot_q8_f32(q.as<float>(), 1, dim, m.as<int8_t>(), dim, sc.as<float>(), rows, 10, idx.as<int32_t>(), val.as<float>(), &c, nullptr); });
    }
}
#endif

}  // namespace

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    if (quick) g_reps = 5;
    const char* variant = "";
    fr_kernel_variant(&variant);
    std::printf("# FastRank native kernel benchmark\n\nBest CPU variant: %s. Median of %d repetitions.\n", variant, g_reps);
    CpuBenchmarks(quick);
#if defined(FR_BENCH_CUDA)
    CudaBenchmarks(quick);
#else
    std::printf("\n(CUDA kernels not built into this binary.)\n");
#endif
    return 0;
}
