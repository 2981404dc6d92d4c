// libfastrank_cuda: the FastRank kernels on device memory. Same contracts as the CPU library
// (fastrank.h), checked against its scalar references by fr_cuda_parity.
//
// Design notes:
//  - Top-k: a block per row selects the k-th rank key by 4 radix-histogram passes over an
//    order-preserving 32-bit key (NaN lowest, -0 == +0), collects the winners in index order with a
//    block scan (so ties keep the lowest indices, as on the CPU), then bitonic-sorts <= 2048
//    (key, ~index) composites in shared memory.
//  - Reductions use a fixed order (no atomics on results), so every run gives the same bits.
#include "fastrank_cuda.h"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace {

thread_local char tls_error[512];

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
fr_status Fail(fr_status status, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    va_end(ap);
    return status;
}

fr_status CheckCuda(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return FR_OK;
    return Fail(FR_ERR_DEVICE, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

// A launch reports configuration errors at once and execution errors at the next synchronisation.
fr_status CheckLaunch(const char* what) { return CheckCuda(cudaGetLastError(), what); }

cudaStream_t AsStream(void* s) { return static_cast<cudaStream_t>(s); }

#define FR_NOT_NULL(p) \
    do { if ((p) == nullptr) return Fail(FR_ERR_NULL_ARGUMENT, "%s: %s is NULL", __func__, #p); } while (0)
#define FR_REQUIRE(cond, ...) \
    do { if (!(cond)) return Fail(FR_ERR_INVALID_ARGUMENT, __VA_ARGS__); } while (0)
#define FR_TRY(expr) \
    do { fr_status _s = (expr); if (_s != FR_OK) return _s; } while (0)

// ---- device helpers -----------------------------------------------------------------------------

// Order-preserving key: larger float -> larger key; NaN -> 0 (below -inf, whose key is 0x007FFFFF);
// -0 and +0 share a key so that they tie and the index decides, as on the CPU.
__device__ __forceinline__ uint32_t RankKey(float f) {
    if (f != f) return 0u;
    if (f == 0.0f) return 0x80000000u;
    uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Descending composite order = rank order: key descending, then index ascending.
__device__ __forceinline__ unsigned long long Composite(uint32_t key, int64_t i) {
    return (static_cast<unsigned long long>(key) << 32) | (0xFFFFFFFFull - static_cast<unsigned long long>(i));
}

// Own reduction functors: cub::Max/cub::Min were deprecated in CCCL 2 and removed in CCCL 3 (CUDA 13).
struct MaxOp {
    template <typename T>
    __device__ __forceinline__ T operator()(T a, T b) const { return a > b ? a : b; }
};
struct MinOp {
    template <typename T>
    __device__ __forceinline__ T operator()(T a, T b) const { return a < b ? a : b; }
};

__device__ __forceinline__ float WarpSum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xFFFFFFFFu, v, o);
    return v;
}

// ---- top-k ------------------------------------------------------------------------------------------

constexpr int kTopkThreads = 512;

__global__ void __launch_bounds__(kTopkThreads)
TopkRowsKernel(const float* __restrict__ x, int64_t n_cols, int64_t row_stride, int k, int sort_n,
               int32_t* __restrict__ out_idx, float* __restrict__ out_val) {
    using Scan = cub::BlockScan<int, kTopkThreads>;
    __shared__ typename Scan::TempStorage scan_tmp;
    __shared__ unsigned hist[256];
    __shared__ uint32_t s_prefix;
    __shared__ int s_remaining, s_gt, s_eq;
    extern __shared__ unsigned long long cand[];

    const float* row = x + static_cast<int64_t>(blockIdx.x) * row_stride;
    const int tid = threadIdx.x;

    // 1. Radix select: the key of the k-th ranked element, one byte per pass, most significant first.
    uint32_t prefix = 0, mask = 0;
    int remaining = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += kTopkThreads) hist[i] = 0;
        __syncthreads();
        for (int64_t i = tid; i < n_cols; i += kTopkThreads) {
            uint32_t key = RankKey(row[i]);
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid == 0) {
            int above = 0, b = 255;
            for (; b > 0; --b) {
                if (above + static_cast<int>(hist[b]) >= remaining) break;
                above += static_cast<int>(hist[b]);
            }
            s_remaining = remaining - above;
            s_prefix = prefix | (static_cast<uint32_t>(b) << shift);
        }
        __syncthreads();
        remaining = s_remaining;
        prefix = s_prefix;
        mask |= 255u << shift;
        __syncthreads();
    }
    const uint32_t threshold = prefix;
    const int need_eq = remaining;   // how many elements equal to the threshold key are taken
    const int n_gt = k - remaining;  // elements strictly above it (all taken)

    // 2. Collect in index order: a block scan gives each winner its slot, so among equal keys the
    //    lowest indices win, exactly as the CPU heap decides ties.
    for (int i = tid; i < sort_n; i += kTopkThreads) cand[i] = 0ull;  // padding sorts last
    if (tid == 0) { s_gt = 0; s_eq = 0; }
    __syncthreads();
    for (int64_t start = 0; start < n_cols; start += kTopkThreads) {
        const int64_t i = start + tid;
        const uint32_t key = i < n_cols ? RankKey(row[i]) : 0u;
        const int is_gt = i < n_cols && key > threshold;
        const int is_eq = i < n_cols && key == threshold;
        int pos, total;
        Scan(scan_tmp).ExclusiveSum(is_gt | (is_eq << 16), pos, total);
        const int gt_base = s_gt, eq_base = s_eq;
        if (is_gt) cand[gt_base + (pos & 0xFFFF)] = Composite(key, i);
        if (is_eq) {
            const int e = eq_base + (pos >> 16);
            if (e < need_eq) cand[n_gt + e] = Composite(key, i);
        }
        __syncthreads();
        if (tid == 0) {
            s_gt = gt_base + (total & 0xFFFF);
            s_eq = eq_base + (total >> 16);
        }
        __syncthreads();
        if (s_gt == n_gt && s_eq >= need_eq) break;  // block-uniform: every winner is placed
    }

    // 3. Bitonic sort, descending.
    for (int size = 2; size <= sort_n; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            __syncthreads();
            for (int t = tid; t < sort_n / 2; t += kTopkThreads) {
                const int lo = 2 * stride * (t / stride) + (t % stride);
                const int hi = lo + stride;
                const bool desc = (lo & size) == 0;
                const unsigned long long a = cand[lo], b = cand[hi];
                if ((a < b) == desc) { cand[lo] = b; cand[hi] = a; }
            }
        }
    }
    __syncthreads();
    for (int j = tid; j < k; j += kTopkThreads) {
        const uint32_t idx = 0xFFFFFFFFu - static_cast<uint32_t>(cand[j] & 0xFFFFFFFFull);
        out_idx[static_cast<int64_t>(blockIdx.x) * k + j] = static_cast<int32_t>(idx);
        if (out_val != nullptr) out_val[static_cast<int64_t>(blockIdx.x) * k + j] = row[idx];  // exact bits
    }
}

fr_status LaunchTopk(const float* x, int64_t n_rows, int64_t n_cols, int64_t row_stride, int k, int32_t* out_idx,
                     float* out_val, cudaStream_t stream) {
    int sort_n = 1;
    while (sort_n < k) sort_n <<= 1;
    TopkRowsKernel<<<static_cast<unsigned>(n_rows), kTopkThreads, static_cast<size_t>(sort_n) * 8, stream>>>(
        x, n_cols, row_stride, k, sort_n, out_idx, out_val);
    return CheckLaunch("top-k kernel");
}

// ---- logits ----------------------------------------------------------------------------------------

constexpr int kRowThreads = 256;

struct IdSet {
    int32_t n;
    int32_t ids[FR_CUDA_MAX_IDS];
};

__global__ void __launch_bounds__(kRowThreads)
LseRowsKernel(const float* __restrict__ x, int64_t n, int64_t stride, IdSet set, float* __restrict__ out_lse,
              float* __restrict__ out_lp) {
    using Reduce = cub::BlockReduce<float, kRowThreads>;
    __shared__ typename Reduce::TempStorage tmp;
    __shared__ float s_value;
    const float* row = x + static_cast<int64_t>(blockIdx.x) * stride;
    float m = -INFINITY;
    int nan = 0;
    for (int64_t i = threadIdx.x; i < n; i += kRowThreads) {
        const float v = row[i];
        nan |= v != v;
        m = fmaxf(m, v);  // fmaxf skips NaN; NaN is tracked separately
    }
    const float block_max = Reduce(tmp).Reduce(m, MaxOp());
    const int any_nan = __syncthreads_or(nan);
    if (threadIdx.x == 0) s_value = block_max;
    __syncthreads();
    const float mx = s_value;
    float lse;
    if (any_nan) {
        lse = NAN;
    } else if (isinf(mx)) {
        lse = mx;
    } else {
        float s = 0.0f;
        for (int64_t i = threadIdx.x; i < n; i += kRowThreads) s += expf(row[i] - mx);
        const float total = Reduce(tmp).Sum(s);
        if (threadIdx.x == 0) s_value = static_cast<float>(static_cast<double>(mx) + log(static_cast<double>(total)));
        __syncthreads();
        lse = s_value;
    }
    if (threadIdx.x == 0 && out_lse != nullptr) out_lse[blockIdx.x] = lse;
    for (int j = threadIdx.x; j < set.n; j += kRowThreads)
        out_lp[static_cast<int64_t>(blockIdx.x) * set.n + j] = row[set.ids[j]] - lse;
}

__global__ void RestrictedSoftmaxKernel(const float* __restrict__ x, int64_t n_rows, int64_t stride, IdSet set,
                                        float* __restrict__ out) {
    const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (r >= n_rows) return;
    const float* row = x + r * stride;
    float* o = out + r * set.n;
    float m = -INFINITY;
    bool bad = false;
    for (int j = 0; j < set.n; ++j) {
        const float v = row[set.ids[j]];
        bad |= v != v;
        if (v > m) m = v;
    }
    if (bad || isinf(m)) {
        for (int j = 0; j < set.n; ++j) o[j] = NAN;
        return;
    }
    double s = 0.0;
    for (int j = 0; j < set.n; ++j) s += exp(static_cast<double>(row[set.ids[j]]) - m);
    for (int j = 0; j < set.n; ++j) o[j] = static_cast<float>(exp(static_cast<double>(row[set.ids[j]]) - m) / s);
}

// ---- attention ---------------------------------------------------------------------------------------

constexpr int kAttnCols = 32;  // one warp reads 32 consecutive cells of a row: one 128-byte transaction
constexpr int kAttnLanes = 8;  // warps per block, each summing every 8th (head, row) pair

__global__ void __launch_bounds__(kAttnCols * kAttnLanes)
AttnAccumulateKernel(const char* __restrict__ base, int64_t n_kv, int64_t nb0, int64_t nb1, int64_t nb2, int64_t row0,
                     int64_t n_rows, int64_t n_head, float scale, float* __restrict__ acc) {
    __shared__ float part[kAttnLanes][kAttnCols];
    const int col = threadIdx.x, lane = threadIdx.y;
    const int64_t c = static_cast<int64_t>(blockIdx.x) * kAttnCols + col;
    float s = 0.0f;
    if (c < n_kv) {
        // Walk (head, row) pairs lane, lane + 8, ... without a division per step.
        int64_t h = lane / n_rows, t = lane % n_rows;
        const char* cell = base + c * nb0;
        while (h < n_head) {
            s += *reinterpret_cast<const float*>(cell + (row0 + t) * nb1 + h * nb2);
            t += kAttnLanes;
            while (t >= n_rows) { t -= n_rows; ++h; }
        }
    }
    part[lane][col] = s;
    __syncthreads();
    if (lane == 0 && c < n_kv) {
        float total = 0.0f;
        for (int l = 0; l < kAttnLanes; ++l) total += part[l][col];  // fixed order: deterministic
        acc[c] += scale * total;
    }
}

// ---- spans and calibration ----------------------------------------------------------------------------

constexpr int kSpanThreads = 128;

__global__ void __launch_bounds__(kSpanThreads)
SpanSumsKernel(const float* __restrict__ v, const fr_range* __restrict__ spans, float* __restrict__ out) {
    using Reduce = cub::BlockReduce<double, kSpanThreads>;
    __shared__ typename Reduce::TempStorage tmp;
    const fr_range r = spans[blockIdx.x];
    double s = 0.0;
    for (int64_t i = r.start + threadIdx.x; i < r.end; i += kSpanThreads) s += v[i];
    const double total = Reduce(tmp).Sum(s);
    if (threadIdx.x == 0) out[blockIdx.x] = static_cast<float>(total);
}

// Same three passes and edge rules as fr_calib_doc_generic (fastrank.h documents them).
__global__ void __launch_bounds__(kSpanThreads)
CalibrationKernel(const float* __restrict__ q, const float* __restrict__ na, const fr_range* __restrict__ docs,
                  float* __restrict__ out) {
    using Reduce = cub::BlockReduce<double, kSpanThreads>;
    __shared__ typename Reduce::TempStorage tmp;
    __shared__ double s_sum, s_min, s_max, s_dev;
    const fr_range r = docs[blockIdx.x];
    const int64_t n = r.end - r.start;
    if (n == 0) {
        if (threadIdx.x == 0) out[blockIdx.x] = 0.0f;
        return;
    }
    if (n == 1) {
        if (threadIdx.x == 0) {
            const double c = static_cast<double>(q[r.start]) - na[r.start];
            out[blockIdx.x] = isfinite(c) ? static_cast<float>(c) : NAN;
        }
        return;
    }
    double sum = 0.0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = r.start + threadIdx.x; i < r.end; i += kSpanThreads) {
        const double c = static_cast<double>(q[i]) - na[i];
        sum += c;
        lo = fmin(lo, c);
        hi = fmax(hi, c);
    }
    double t = Reduce(tmp).Sum(sum);
    if (threadIdx.x == 0) s_sum = t;
    __syncthreads();
    t = Reduce(tmp).Reduce(lo, MinOp());
    if (threadIdx.x == 0) s_min = t;
    __syncthreads();
    t = Reduce(tmp).Reduce(hi, MaxOp());
    if (threadIdx.x == 0) s_max = t;
    __syncthreads();
    if (!isfinite(s_sum)) {
        if (threadIdx.x == 0) out[blockIdx.x] = NAN;
        return;
    }
    if (s_min == s_max) {
        if (threadIdx.x == 0) out[blockIdx.x] = 0.0f;
        return;
    }
    const double mean = s_sum / static_cast<double>(n);
    double dev = 0.0;
    for (int64_t i = r.start + threadIdx.x; i < r.end; i += kSpanThreads) {
        const double d = (static_cast<double>(q[i]) - na[i]) - mean;
        dev += d * d;
    }
    t = Reduce(tmp).Sum(dev);
    if (threadIdx.x == 0) s_dev = t;
    __syncthreads();
    const double threshold = mean - 2.0 * sqrt(s_dev / static_cast<double>(n - 1));
    double masked = 0.0;
    for (int64_t i = r.start + threadIdx.x; i < r.end; i += kSpanThreads) {
        const double c = static_cast<double>(q[i]) - na[i];
        if (c > threshold) masked += c;
    }
    t = Reduce(tmp).Sum(masked);
    if (threadIdx.x == 0) out[blockIdx.x] = static_cast<float>(t);
}

// ---- embeddings --------------------------------------------------------------------------------------------

constexpr int kDotThreads = 256;  // 8 warps, one row per warp

__device__ __forceinline__ float Widen(int8_t v) { return static_cast<float>(v); }
__device__ __forceinline__ float Widen(uint16_t v) { return __half2float(__ushort_as_half(v)); }

template <typename T>
__global__ void __launch_bounds__(kDotThreads)
DotRowsKernel(const float* __restrict__ queries, int64_t n_q, int64_t dim, const T* __restrict__ rows,
              int64_t stride, const float* __restrict__ scales, int64_t n_rows, float* __restrict__ out) {
    const int64_t r = static_cast<int64_t>(blockIdx.x) * (kDotThreads / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (r >= n_rows) return;  // warp-uniform
    const T* row = rows + r * stride;
    const float sc = scales != nullptr ? scales[r] : 1.0f;
    for (int64_t q = 0; q < n_q; ++q) {
        const float* v = queries + q * dim;
        float s = 0.0f;
        for (int64_t i = lane; i < dim; i += 32) s = fmaf(v[i], Widen(row[i]), s);
        s = WarpSum(s);
        if (lane == 0) out[q * n_rows + r] = sc * s;
    }
}

template <typename T>
fr_status LaunchDots(const float* queries, int64_t n_q, int64_t dim, const T* rows, int64_t stride,
                     const float* scales, int64_t n_rows, float* out, cudaStream_t stream) {
    const int64_t blocks = (n_rows + kDotThreads / 32 - 1) / (kDotThreads / 32);
    DotRowsKernel<T><<<static_cast<unsigned>(blocks), kDotThreads, 0, stream>>>(queries, n_q, dim, rows, stride,
                                                                                 scales, n_rows, out);
    return CheckLaunch("dot-product kernel");
}

fr_status CheckDots(const char* fn, const float* queries, int64_t n_q, int64_t dim, const void* rows,
                    int64_t stride, int64_t n_rows) {
    FR_REQUIRE(n_q >= 0 && dim >= 0 && n_rows >= 0, "%s: negative shape", fn);
    FR_REQUIRE(n_rows <= INT32_MAX, "%s: %lld rows exceed int32 indices", fn, static_cast<long long>(n_rows));
    FR_REQUIRE(n_rows <= 1 || stride >= dim, "%s: row stride %lld < dimension %lld", fn,
               static_cast<long long>(stride), static_cast<long long>(dim));
    FR_REQUIRE(n_rows / 8 < static_cast<int64_t>(UINT32_MAX), "%s: too many rows for one launch", fn);
    if (n_q > 0 && dim > 0 && queries == nullptr) return Fail(FR_ERR_NULL_ARGUMENT, "%s: queries is NULL", fn);
    if (n_rows > 0 && dim > 0 && rows == nullptr) return Fail(FR_ERR_NULL_ARGUMENT, "%s: rows is NULL", fn);
    return FR_OK;
}

// Scores into a stream-ordered scratch buffer, then the row top-k over it.
template <typename T>
fr_status TopkDots(const char* fn, const float* queries, int64_t n_q, int64_t dim, const T* rows, int64_t stride,
                   const float* scales, int64_t n_rows, int32_t k, int32_t* out_idx, float* out_scores,
                   int32_t* out_count, cudaStream_t stream) {
    FR_NOT_NULL(out_count);
    FR_REQUIRE(k >= 0, "%s: k = %d is negative", fn, k);
    const int32_t c = static_cast<int64_t>(k) < n_rows ? k : static_cast<int32_t>(n_rows);
    FR_REQUIRE(c <= FR_CUDA_TOPK_MAX, "%s: k = %d exceeds the GPU top-k limit %d", fn, c, FR_CUDA_TOPK_MAX);
    if (c == 0 || n_q == 0) {
        *out_count = c;
        return FR_OK;
    }
    FR_NOT_NULL(out_idx);
    void* scratch = nullptr;
    const size_t bytes = static_cast<size_t>(n_q) * static_cast<size_t>(n_rows) * sizeof(float);
    FR_TRY(CheckCuda(cudaMallocAsync(&scratch, bytes, stream), "scratch allocation"));
    float* scores = static_cast<float*>(scratch);
    fr_status s = LaunchDots(queries, n_q, dim, rows, stride, scales, n_rows, scores, stream);
    if (s == FR_OK) s = LaunchTopk(scores, n_q, n_rows, n_rows, c, out_idx, out_scores, stream);
    const fr_status f = CheckCuda(cudaFreeAsync(scratch, stream), "scratch release");
    if (s != FR_OK) return s;
    FR_TRY(f);
    *out_count = c;
    return FR_OK;
}

fr_status CheckLogits(const char* fn, const float* logits, int64_t n_rows, int64_t n_vocab, int64_t row_stride,
                      const int32_t* ids, int32_t n_ids, IdSet* set) {
    FR_REQUIRE(n_rows >= 0 && n_rows <= static_cast<int64_t>(INT32_MAX), "%s: n_rows = %lld out of range", fn,
               static_cast<long long>(n_rows));
    FR_REQUIRE(n_vocab >= 1, "%s: n_vocab = %lld must be at least 1", fn, static_cast<long long>(n_vocab));
    FR_REQUIRE(n_rows <= 1 || row_stride >= n_vocab, "%s: row stride %lld < vocabulary %lld", fn,
               static_cast<long long>(row_stride), static_cast<long long>(n_vocab));
    FR_REQUIRE(n_ids >= 0 && n_ids <= FR_CUDA_MAX_IDS, "%s: n_ids = %d outside [0, %d]", fn, n_ids, FR_CUDA_MAX_IDS);
    if (n_rows > 0 && logits == nullptr) return Fail(FR_ERR_NULL_ARGUMENT, "%s: logits is NULL", fn);
    if (n_ids > 0 && ids == nullptr) return Fail(FR_ERR_NULL_ARGUMENT, "%s: host_ids is NULL", fn);
    set->n = n_ids;
    for (int32_t i = 0; i < n_ids; ++i) {
        FR_REQUIRE(ids[i] >= 0 && ids[i] < n_vocab, "%s: ids[%d] = %d is outside the vocabulary [0, %lld)", fn, i,
                   ids[i], static_cast<long long>(n_vocab));
        set->ids[i] = ids[i];
    }
    return FR_OK;
}

fr_status CheckRanges(const char* fn, int64_t n, const fr_range* r, int64_t count) {
    FR_REQUIRE(n >= 0 && count >= 0 && count <= static_cast<int64_t>(INT32_MAX), "%s: bad length", fn);
    if (count > 0 && r == nullptr) return Fail(FR_ERR_NULL_ARGUMENT, "%s: host ranges are NULL", fn);
    for (int64_t i = 0; i < count; ++i)
        FR_REQUIRE(0 <= r[i].start && r[i].start <= r[i].end && r[i].end <= n,
                   "%s: span %lld = [%d, %d) is not inside [0, %lld)", fn, static_cast<long long>(i), r[i].start,
                   r[i].end, static_cast<long long>(n));
    return FR_OK;
}

// Ranges are validated on the host and copied to a stream-ordered device buffer. A copy from pageable
// host memory has been staged when cudaMemcpyAsync returns, so the caller may reuse its array at once.
template <typename Launch>
fr_status WithDeviceRanges(const fr_range* host, int64_t count, cudaStream_t stream, Launch launch) {
    void* dev = nullptr;
    const size_t bytes = static_cast<size_t>(count) * sizeof(fr_range);
    FR_TRY(CheckCuda(cudaMallocAsync(&dev, bytes, stream), "range buffer allocation"));
    fr_status s = CheckCuda(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, stream), "range upload");
    if (s == FR_OK) s = launch(static_cast<const fr_range*>(dev));
    const fr_status f = CheckCuda(cudaFreeAsync(dev, stream), "range buffer release");
    return s != FR_OK ? s : f;
}

}  // namespace

// ---- C API ------------------------------------------------------------------------------------------------

extern "C" {

FR_API int32_t fr_cuda_abi_version(void) { return FR_CUDA_ABI_VERSION; }

FR_API fr_status fr_cuda_last_error(const char** message) {
    FR_NOT_NULL(message);
    *message = tls_error;
    return FR_OK;
}

FR_API fr_status fr_cuda_device_count(int32_t* count) {
    FR_NOT_NULL(count);
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        // No driver or no device is an answer (0), not a failure; the reason stays readable.
        Fail(FR_OK, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        cudaGetLastError();
        n = 0;
    }
    *count = n;
    return FR_OK;
}

FR_API fr_status fr_cuda_device_description(int32_t device, char* buffer, int32_t capacity) {
    FR_NOT_NULL(buffer);
    FR_REQUIRE(capacity > 0, "fr_cuda_device_description: capacity %d", capacity);
    cudaDeviceProp p;
    FR_TRY(CheckCuda(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties"));
    snprintf(buffer, static_cast<size_t>(capacity), "%s, sm_%d%d, %.0f GiB", p.name, p.major, p.minor,
             static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    return FR_OK;
}

FR_API fr_status fr_cuda_set_device(int32_t device) { return CheckCuda(cudaSetDevice(device), "cudaSetDevice"); }

FR_API fr_status fr_cuda_malloc(void** ptr, size_t bytes) {
    FR_NOT_NULL(ptr);
    *ptr = nullptr;
    if (bytes == 0) return FR_OK;
    return CheckCuda(cudaMalloc(ptr, bytes), "cudaMalloc");
}

FR_API fr_status fr_cuda_free(void* ptr) { return ptr == nullptr ? FR_OK : CheckCuda(cudaFree(ptr), "cudaFree"); }

FR_API fr_status fr_cuda_memcpy_to_device(void* dst, const void* host_src, size_t bytes, void* stream) {
    if (bytes == 0) return FR_OK;
    FR_NOT_NULL(dst);
    FR_NOT_NULL(host_src);
    return CheckCuda(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, AsStream(stream)), "copy to device");
}

FR_API fr_status fr_cuda_memcpy_to_host(void* host_dst, const void* src, size_t bytes, void* stream) {
    if (bytes == 0) return FR_OK;
    FR_NOT_NULL(host_dst);
    FR_NOT_NULL(src);
    return CheckCuda(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, AsStream(stream)), "copy to host");
}

FR_API fr_status fr_cuda_memcpy_device(void* dst, const void* src, size_t bytes, void* stream) {
    if (bytes == 0) return FR_OK;
    FR_NOT_NULL(dst);
    FR_NOT_NULL(src);
    return CheckCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, AsStream(stream)), "device copy");
}

FR_API fr_status fr_cuda_memset_zero(void* dst, size_t bytes, void* stream) {
    if (bytes == 0) return FR_OK;
    FR_NOT_NULL(dst);
    return CheckCuda(cudaMemsetAsync(dst, 0, bytes, AsStream(stream)), "cudaMemsetAsync");
}

FR_API fr_status fr_cuda_synchronize(void* stream) {
    return CheckCuda(cudaStreamSynchronize(AsStream(stream)), "cudaStreamSynchronize");
}

FR_API fr_status fr_cuda_topk_rows_f32(const float* x, int64_t n_rows, int64_t n_cols, int64_t row_stride, int32_t k,
                                       int32_t* out_idx, float* out_val, int32_t* out_count, void* stream) {
    FR_NOT_NULL(out_count);
    FR_REQUIRE(n_rows >= 0 && n_rows <= static_cast<int64_t>(INT32_MAX) && n_cols >= 0 && n_cols <= INT32_MAX,
               "fr_cuda_topk_rows_f32: shape %lld x %lld out of range", static_cast<long long>(n_rows),
               static_cast<long long>(n_cols));
    FR_REQUIRE(k >= 0, "fr_cuda_topk_rows_f32: k = %d is negative", k);
    FR_REQUIRE(n_rows <= 1 || row_stride >= n_cols, "fr_cuda_topk_rows_f32: row stride %lld < %lld columns",
               static_cast<long long>(row_stride), static_cast<long long>(n_cols));
    const int32_t c = static_cast<int64_t>(k) < n_cols ? k : static_cast<int32_t>(n_cols);
    if (c > FR_CUDA_TOPK_MAX)
        return Fail(FR_ERR_UNSUPPORTED, "fr_cuda_topk_rows_f32: k = %d exceeds the GPU top-k limit %d", c,
                    FR_CUDA_TOPK_MAX);
    if (c == 0 || n_rows == 0) {
        *out_count = c;
        return FR_OK;
    }
    FR_NOT_NULL(x);
    FR_NOT_NULL(out_idx);
    FR_TRY(LaunchTopk(x, n_rows, n_cols, row_stride, c, out_idx, out_val, AsStream(stream)));
    *out_count = c;
    return FR_OK;
}

FR_API fr_status fr_cuda_logsumexp_rows_f32(const float* logits, int64_t n_rows, int64_t n_vocab, int64_t row_stride,
                                            float* out_lse, void* stream) {
    IdSet set;
    FR_TRY(CheckLogits("fr_cuda_logsumexp_rows_f32", logits, n_rows, n_vocab, row_stride, nullptr, 0, &set));
    if (n_rows == 0) return FR_OK;
    FR_NOT_NULL(out_lse);
    LseRowsKernel<<<static_cast<unsigned>(n_rows), kRowThreads, 0, AsStream(stream)>>>(logits, n_vocab, row_stride,
                                                                                       set, out_lse, nullptr);
    return CheckLaunch("log-sum-exp kernel");
}

FR_API fr_status fr_cuda_gather_logprobs_f32(const float* logits, int64_t n_rows, int64_t n_vocab, int64_t row_stride,
                                             const int32_t* host_ids, int32_t n_ids, float* out_logprobs,
                                             float* out_lse, void* stream) {
    IdSet set;
    FR_TRY(CheckLogits("fr_cuda_gather_logprobs_f32", logits, n_rows, n_vocab, row_stride, host_ids, n_ids, &set));
    if (n_rows == 0) return FR_OK;
    if (n_ids > 0) FR_NOT_NULL(out_logprobs);
    LseRowsKernel<<<static_cast<unsigned>(n_rows), kRowThreads, 0, AsStream(stream)>>>(logits, n_vocab, row_stride,
                                                                                       set, out_lse, out_logprobs);
    return CheckLaunch("gather kernel");
}

FR_API fr_status fr_cuda_restricted_softmax_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                                int64_t row_stride, const int32_t* host_ids, int32_t n_ids,
                                                float* out_probs, void* stream) {
    IdSet set;
    FR_TRY(CheckLogits("fr_cuda_restricted_softmax_f32", logits, n_rows, n_vocab, row_stride, host_ids, n_ids, &set));
    if (n_rows == 0 || n_ids == 0) return FR_OK;
    FR_NOT_NULL(out_probs);
    const int threads = 128;
    RestrictedSoftmaxKernel<<<static_cast<unsigned>((n_rows + threads - 1) / threads), threads, 0, AsStream(stream)>>>(
        logits, n_rows, row_stride, set, out_probs);
    return CheckLaunch("restricted softmax kernel");
}

FR_API fr_status fr_cuda_attn_accumulate_f32(const void* data, const int64_t* host_ne, const int64_t* host_nb,
                                             int64_t row0, int64_t row1, int64_t stream_index, float scale,
                                             float* acc, void* stream) {
    FR_NOT_NULL(host_ne);
    FR_NOT_NULL(host_nb);
    for (int i = 0; i < 4; ++i) {
        FR_REQUIRE(host_ne[i] >= 0, "fr_cuda_attn_accumulate_f32: ne[%d] is negative", i);
        FR_REQUIRE(host_nb[i] >= 0 && host_nb[i] % 4 == 0,
                   "fr_cuda_attn_accumulate_f32: nb[%d] = %lld must be a non-negative multiple of 4", i,
                   static_cast<long long>(host_nb[i]));
    }
    FR_REQUIRE(0 <= row0 && row0 <= row1 && row1 <= host_ne[1],
               "fr_cuda_attn_accumulate_f32: rows [%lld, %lld) outside [0, %lld)", static_cast<long long>(row0),
               static_cast<long long>(row1), static_cast<long long>(host_ne[1]));
    FR_REQUIRE(0 <= stream_index && stream_index < host_ne[3],
               "fr_cuda_attn_accumulate_f32: stream %lld outside [0, %lld)", static_cast<long long>(stream_index),
               static_cast<long long>(host_ne[3]));
    const int64_t n_kv = host_ne[0], n_head = host_ne[2];
    if (n_kv == 0 || row0 == row1 || n_head == 0) return FR_OK;
    FR_NOT_NULL(data);
    FR_NOT_NULL(acc);
    FR_REQUIRE(reinterpret_cast<uintptr_t>(data) % 4 == 0, "fr_cuda_attn_accumulate_f32: data is not 4-byte aligned");
    const char* base = static_cast<const char*>(data) + stream_index * host_nb[3];
    const int64_t blocks = (n_kv + kAttnCols - 1) / kAttnCols;
    FR_REQUIRE(blocks <= static_cast<int64_t>(INT32_MAX), "fr_cuda_attn_accumulate_f32: n_kv too large");
    AttnAccumulateKernel<<<static_cast<unsigned>(blocks), dim3(kAttnCols, kAttnLanes), 0, AsStream(stream)>>>(
        base, n_kv, host_nb[0], host_nb[1], host_nb[2], row0, row1 - row0, n_head, scale, acc);
    return CheckLaunch("attention kernel");
}

FR_API fr_status fr_cuda_span_sums_f32(const float* values, int64_t n, const fr_range* host_spans, int64_t n_spans,
                                       float* out, void* stream) {
    FR_TRY(CheckRanges("fr_cuda_span_sums_f32", n, host_spans, n_spans));
    if (n_spans == 0) return FR_OK;
    FR_NOT_NULL(out);
    if (n > 0) FR_NOT_NULL(values);
    cudaStream_t s = AsStream(stream);
    return WithDeviceRanges(host_spans, n_spans, s, [&](const fr_range* dev) {
        SpanSumsKernel<<<static_cast<unsigned>(n_spans), kSpanThreads, 0, s>>>(values, dev, out);
        return CheckLaunch("span sums kernel");
    });
}

FR_API fr_status fr_cuda_masked_calibration_f32(const float* s_q, const float* s_na, int64_t n,
                                                const fr_range* host_docs, int64_t n_docs, float* out_scores,
                                                void* stream) {
    FR_TRY(CheckRanges("fr_cuda_masked_calibration_f32", n, host_docs, n_docs));
    if (n_docs == 0) return FR_OK;
    FR_NOT_NULL(out_scores);
    if (n > 0) {
        FR_NOT_NULL(s_q);
        FR_NOT_NULL(s_na);
    }
    cudaStream_t s = AsStream(stream);
    return WithDeviceRanges(host_docs, n_docs, s, [&](const fr_range* dev) {
        CalibrationKernel<<<static_cast<unsigned>(n_docs), kSpanThreads, 0, s>>>(s_q, s_na, dev, out_scores);
        return CheckLaunch("calibration kernel");
    });
}

FR_API fr_status fr_cuda_dot_rows_q8_f32(const float* queries, int64_t n_queries, int64_t dim, const int8_t* rows,
                                         int64_t row_stride_bytes, const float* scales, int64_t n_rows,
                                         float* out_scores, void* stream) {
    FR_TRY(CheckDots("fr_cuda_dot_rows_q8_f32", queries, n_queries, dim, rows, row_stride_bytes, n_rows));
    if (n_queries == 0 || n_rows == 0) return FR_OK;
    FR_NOT_NULL(scales);
    FR_NOT_NULL(out_scores);
    return LaunchDots(queries, n_queries, dim, rows, row_stride_bytes, scales, n_rows, out_scores, AsStream(stream));
}

FR_API fr_status fr_cuda_dot_rows_f16_f32(const float* queries, int64_t n_queries, int64_t dim, const uint16_t* rows,
                                          int64_t row_stride, int64_t n_rows, float* out_scores, void* stream) {
    FR_TRY(CheckDots("fr_cuda_dot_rows_f16_f32", queries, n_queries, dim, rows, row_stride, n_rows));
    if (n_queries == 0 || n_rows == 0) return FR_OK;
    FR_NOT_NULL(out_scores);
    return LaunchDots(queries, n_queries, dim, rows, row_stride, static_cast<const float*>(nullptr), n_rows,
                      out_scores, AsStream(stream));
}

FR_API fr_status fr_cuda_topk_dot_q8_f32(const float* queries, int64_t n_queries, int64_t dim, const int8_t* rows,
                                         int64_t row_stride_bytes, const float* scales, int64_t n_rows, int32_t k,
                                         int32_t* out_idx, float* out_scores, int32_t* out_count, void* stream) {
    FR_TRY(CheckDots("fr_cuda_topk_dot_q8_f32", queries, n_queries, dim, rows, row_stride_bytes, n_rows));
    if (n_rows > 0) FR_NOT_NULL(scales);
    return TopkDots("fr_cuda_topk_dot_q8_f32", queries, n_queries, dim, rows, row_stride_bytes, scales, n_rows, k,
                    out_idx, out_scores, out_count, AsStream(stream));
}

FR_API fr_status fr_cuda_topk_dot_f16_f32(const float* queries, int64_t n_queries, int64_t dim, const uint16_t* rows,
                                          int64_t row_stride, int64_t n_rows, int32_t k, int32_t* out_idx,
                                          float* out_scores, int32_t* out_count, void* stream) {
    FR_TRY(CheckDots("fr_cuda_topk_dot_f16_f32", queries, n_queries, dim, rows, row_stride, n_rows));
    return TopkDots("fr_cuda_topk_dot_f16_f32", queries, n_queries, dim, rows, row_stride,
                    static_cast<const float*>(nullptr), n_rows, k, out_idx, out_scores, out_count, AsStream(stream));
}

}  // extern "C"
