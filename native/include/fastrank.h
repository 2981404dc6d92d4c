/* FastRank native kernels: a flat C API. Every function returns an fr_status; no C++ exception or
 * longjmp crosses this boundary. */
#ifndef FASTRANK_H
#define FASTRANK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define FR_API __declspec(dllexport)
#else
#  define FR_API __attribute__((visibility("default")))
#endif

typedef enum fr_status {
    FR_OK = 0,
    FR_ERR_NULL_ARGUMENT = 1,
    FR_ERR_INVALID_ARGUMENT = 2,
    FR_ERR_UNSUPPORTED = 3,
    FR_ERR_DEVICE = 4
} fr_status;

/* ABI version of this library; the managed side refuses a library whose version differs. */
#define FR_ABI_VERSION 1
FR_API int32_t fr_abi_version(void);

#ifdef __cplusplus
}
#endif
#endif
