# libfastrank_cuda: the kernels in CUDA, a separate shared library so that CPU-only builds and machines
# never need the CUDA toolkit or runtime.
#
#   FASTRANK_CUDA=AUTO (default)  build it when a CUDA compiler is found
#   FASTRANK_CUDA=ON              require it (a missing compiler or a compile error fails the build)
#   FASTRANK_CUDA=OFF             never
#
# Device code: sm_80 and sm_90 (SASS for both plus compute_90 PTX for later GPUs) unless
# CMAKE_CUDA_ARCHITECTURES says otherwise.
set(FASTRANK_CUDA "AUTO" CACHE STRING "Build libfastrank_cuda: AUTO, ON or OFF")
# Warnings are errors with the toolkit CI compiles with (nvcc 11.8); bench/gpu/run.sh turns this off so that
# a new warning from a newer nvcc on a machine without network cannot cost the whole GPU run.
option(FASTRANK_CUDA_WERROR "Treat CUDA compiler warnings as errors" ON)
set_property(CACHE FASTRANK_CUDA PROPERTY STRINGS AUTO ON OFF)

set(FASTRANK_HAVE_CUDA OFF)
if(NOT FASTRANK_CUDA STREQUAL "OFF")
  # nvcc 11.x (Debian's nvidia-cuda-toolkit) rejects GCC 12 as host compiler; clang++-14 works and,
  # unlike the C driver clang-14, links libstdc++. Pick it before the CUDA language is probed.
  if(NOT CMAKE_CUDA_HOST_COMPILER AND NOT DEFINED ENV{CUDAHOSTCXX})
    find_program(FASTRANK_NVCC NAMES nvcc HINTS ENV CUDACXX /usr/local/cuda/bin)
    if(FASTRANK_NVCC)
      execute_process(COMMAND ${FASTRANK_NVCC} --version OUTPUT_VARIABLE _fr_nvcc_version ERROR_QUIET)
      if(_fr_nvcc_version MATCHES "release ([0-9]+)\\.([0-9]+)" AND CMAKE_MATCH_1 LESS 12
         AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
        find_program(FASTRANK_CUDA_CLANGXX NAMES clang++-14 clang++-13 clang++-12 clang++-11)
        if(FASTRANK_CUDA_CLANGXX)
          message(STATUS "FastRank: nvcc ${CMAKE_MATCH_1}.${CMAKE_MATCH_2} with GCC ${CMAKE_CXX_COMPILER_VERSION}: using ${FASTRANK_CUDA_CLANGXX} as CUDA host compiler")
          set(CMAKE_CUDA_HOST_COMPILER ${FASTRANK_CUDA_CLANGXX} CACHE FILEPATH "CUDA host compiler" FORCE)
          # check_language(CUDA) probes in a child CMake that (before CMake 3.26) sees only the
          # environment, not this cache entry.
          set(ENV{CUDAHOSTCXX} ${FASTRANK_CUDA_CLANGXX})
        endif()
      endif()
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "80-real;90")
    endif()
    enable_language(CUDA)
    set(FASTRANK_HAVE_CUDA ON)
  elseif(FASTRANK_CUDA STREQUAL "ON")
    message(FATAL_ERROR "FASTRANK_CUDA=ON but no working CUDA compiler was found")
  else()
    message(STATUS "FastRank: no CUDA compiler found; libfastrank_cuda is not built")
  endif()
endif()

if(FASTRANK_HAVE_CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  add_library(fastrank_cuda SHARED cuda/fr_cuda.cu)
  target_include_directories(fastrank_cuda PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  # The runtime is linked statically: the library then needs only the driver (libcuda) at run time,
  # and loads fine (reporting 0 devices) where there is none.
  set_target_properties(fastrank_cuda PROPERTIES
    CUDA_RUNTIME_LIBRARY Static
    CUDA_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    POSITION_INDEPENDENT_CODE ON)
  target_compile_options(fastrank_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall>)
  if(FASTRANK_CUDA_WERROR)
    target_compile_options(fastrank_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings>)
  endif()
  add_dependencies(fastrank_libraries fastrank_cuda)
  message(STATUS "FastRank: building libfastrank_cuda (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")

  # Parity of every CUDA kernel against the scalar reference; exit code 77 (CTest: skipped) without a GPU.
  add_executable(fastrank_cuda_parity cuda/fr_cuda_parity.cpp)
  target_link_libraries(fastrank_cuda_parity PRIVATE fastrank_cuda fastrank_native)
  add_test(NAME fastrank_cuda_parity COMMAND fastrank_cuda_parity)
  set_tests_properties(fastrank_cuda_parity PROPERTIES SKIP_RETURN_CODE 77)
endif()
