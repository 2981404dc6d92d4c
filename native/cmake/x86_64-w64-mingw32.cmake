# Cross build for win-x64 with Debian's mingw-w64 (apt install g++-mingw-w64-x86-64); tests run under wine:
#   cmake -S . -B artifacts/native/win-x64 -DCMAKE_TOOLCHAIN_FILE=native/cmake/x86_64-w64-mingw32.cmake -DFASTRANK_CUDA=OFF
#   cmake --build artifacts/native/win-x64 && ctest --test-dir artifacts/native/win-x64
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
# The posix thread model: GoogleTest (the tests only) needs std::thread and std::mutex.
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# No MinGW runtime DLL beside ours: libgcc (and, for the tests, libstdc++ and winpthread) linked statically.
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc -static")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++ -static")
# The release DLL without its DWARF sections (458 KB -> 115 KB).
set(CMAKE_SHARED_LINKER_FLAGS_RELEASE_INIT "-s")
# Test executables (and gtest_discover_tests) run through wine (Debian's wine64 package alone installs
# only /usr/lib/wine/wine64).
find_program(FASTRANK_WINE NAMES wine wine64 HINTS /usr/lib/wine NO_CMAKE_FIND_ROOT_PATH)
if(FASTRANK_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${FASTRANK_WINE})
endif()
