/* libfastrank_cuda: the FastRank kernels on an NVIDIA GPU, a separate library so that a CPU-only
 * build or machine never needs the CUDA runtime (the runtime is linked statically into this library;
 * only the driver, libcuda, is needed at run time, and without it fr_cuda_device_count reports 0).
 *
 * Conventions:
 *  - Data pointers are DEVICE pointers unless a parameter says "host". Shapes, strides, token ids
 *    and ranges are host values (validated on the host, like the CPU library).
 *  - Kernels are enqueued on `stream` (a cudaStream_t; NULL = the legacy default stream) and return
 *    without waiting; call fr_cuda_synchronize(stream) before reading results on the host.
 *  - Results follow the CPU library's rules (fastrank.h): same ordering, ties, NaN handling and
 *    calibration edge cases; floating-point sums may differ in the last bits (different order).
 *  - Every function returns an fr_status; a CUDA error becomes FR_ERR_DEVICE and its text is in
 *    fr_cuda_last_error. No C++ exception crosses this boundary. */
#ifndef FASTRANK_CUDA_H
#define FASTRANK_CUDA_H

#include "fastrank.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_CUDA_ABI_VERSION 1
/* Largest k the GPU top-k supports (candidates are sorted in shared memory). */
#define FR_CUDA_TOPK_MAX 2048
/* Largest token-id set of the gather / restricted softmax kernels (ids travel as a kernel argument). */
#define FR_CUDA_MAX_IDS 256

FR_API int32_t fr_cuda_abi_version(void);
FR_API fr_status fr_cuda_last_error(const char** message);

/* Number of usable devices; 0 (and FR_OK) when there is no driver or no device, with the reason in
 * fr_cuda_last_error. */
FR_API fr_status fr_cuda_device_count(int32_t* count);
/* "NVIDIA H100 80GB HBM3, sm_90, 79 GiB" into a host buffer (always NUL-terminated). */
FR_API fr_status fr_cuda_device_description(int32_t device, char* buffer, int32_t capacity);
/* Device used by the calling host thread for later calls (cudaSetDevice). */
FR_API fr_status fr_cuda_set_device(int32_t device);

FR_API fr_status fr_cuda_malloc(void** ptr, size_t bytes);
FR_API fr_status fr_cuda_free(void* ptr);
FR_API fr_status fr_cuda_memcpy_to_device(void* dst, const void* host_src, size_t bytes, void* stream);
FR_API fr_status fr_cuda_memcpy_to_host(void* host_dst, const void* src, size_t bytes, void* stream);
FR_API fr_status fr_cuda_memcpy_device(void* dst, const void* src, size_t bytes, void* stream);
FR_API fr_status fr_cuda_memset_zero(void* dst, size_t bytes, void* stream);
FR_API fr_status fr_cuda_synchronize(void* stream);

/* Top-k per row; k_eff = min(k, n_cols) <= FR_CUDA_TOPK_MAX (else FR_ERR_UNSUPPORTED); out rows
 * packed with stride k_eff; out_val may be NULL; *out_count (host) = k_eff. */
FR_API fr_status fr_cuda_topk_rows_f32(const float* x, int64_t n_rows, int64_t n_cols, int64_t row_stride,
                                       int32_t k, int32_t* out_idx, float* out_val, int32_t* out_count,
                                       void* stream);

FR_API fr_status fr_cuda_logsumexp_rows_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                            int64_t row_stride, float* out_lse, void* stream);
/* host_ids: n_ids <= FR_CUDA_MAX_IDS token ids in host memory. out_lse may be NULL. */
FR_API fr_status fr_cuda_gather_logprobs_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                             int64_t row_stride, const int32_t* host_ids, int32_t n_ids,
                                             float* out_logprobs, float* out_lse, void* stream);
FR_API fr_status fr_cuda_restricted_softmax_f32(const float* logits, int64_t n_rows, int64_t n_vocab,
                                                int64_t row_stride, const int32_t* host_ids, int32_t n_ids,
                                                float* out_probs, void* stream);

/* data: the device `data` pointer of a kq_soft_max-L tensor in GPU memory (4-byte aligned, strides
 * multiples of 4); host_ne/host_nb: its ne and nb; acc: n_kv device floats. Deterministic: no atomics,
 * a fixed summation order. */
FR_API fr_status fr_cuda_attn_accumulate_f32(const void* data, const int64_t* host_ne, const int64_t* host_nb,
                                             int64_t row0, int64_t row1, int64_t stream_index, float scale,
                                             float* acc, void* stream);

/* host_spans / host_docs in host memory; values, s_q, s_na and out on the device. */
FR_API fr_status fr_cuda_span_sums_f32(const float* values, int64_t n, const fr_range* host_spans,
                                       int64_t n_spans, float* out, void* stream);
FR_API fr_status fr_cuda_masked_calibration_f32(const float* s_q, const float* s_na, int64_t n,
                                                const fr_range* host_docs, int64_t n_docs, float* out_scores,
                                                void* stream);

FR_API fr_status fr_cuda_dot_rows_q8_f32(const float* queries, int64_t n_queries, int64_t dim,
                                         const int8_t* rows, int64_t row_stride_bytes, const float* scales,
                                         int64_t n_rows, float* out_scores, void* stream);
FR_API fr_status fr_cuda_dot_rows_f16_f32(const float* queries, int64_t n_queries, int64_t dim,
                                          const uint16_t* rows, int64_t row_stride, int64_t n_rows,
                                          float* out_scores, void* stream);
FR_API fr_status fr_cuda_topk_dot_q8_f32(const float* queries, int64_t n_queries, int64_t dim,
                                         const int8_t* rows, int64_t row_stride_bytes, const float* scales,
                                         int64_t n_rows, int32_t k, int32_t* out_idx, float* out_scores,
                                         int32_t* out_count, void* stream);
FR_API fr_status fr_cuda_topk_dot_f16_f32(const float* queries, int64_t n_queries, int64_t dim,
                                          const uint16_t* rows, int64_t row_stride, int64_t n_rows, int32_t k,
                                          int32_t* out_idx, float* out_scores, int32_t* out_count,
                                          void* stream);

#ifdef __cplusplus
}
#endif
#endif
