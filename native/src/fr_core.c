#include "fastrank.h"

FR_API int32_t fr_abi_version(void) { return FR_ABI_VERSION; }
