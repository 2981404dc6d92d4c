#!/usr/bin/env bash
# GPU check for the FastRank kernels, for a lent GPU machine (H100/H200, nvcc 12-13, cmake, ninja, no
# network, only what travels with the git working tree; no NuGet restore is possible there).
#
#   bench/gpu/run.sh            builds native/ with CUDA for the GPU present, runs the CUDA parity program
#                               (every CUDA kernel against the CPU scalar reference), the native unit tests
#                               (when GoogleTest is installed), the native kernel benchmark and, where a CUDA
#                               llama.cpp travelled with the tree, the end-to-end bench of every method.
#
# Writes $OUT/gpu-kernels-report.md (or bench/gpu/out/ when OUT is unset). Takes 1-3 minutes; every step has
# a timeout so the whole run stays under 5. Exit status: 0 all passed; 1 build, parity, test or benchmark
# failure; 77 no CUDA device (everything else still ran).
set -uo pipefail
cd "$(dirname "$0")/../.."

# The toolkit's usual home when it is not on PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

out="${OUT:-bench/gpu/out}"
mkdir -p "$out"
report="$out/gpu-kernels-report.md"
build="${FASTRANK_GPU_BUILD_DIR:-artifacts/gpu}"
status=0

section() { printf '\n## %s\n\n' "$*" >>"$report"; }
fenced() { { echo '```'; cat; echo '```'; } >>"$report"; }

{
  echo "# FastRank GPU kernel check"
  echo
  echo "Date: $(date -u +%Y-%m-%dT%H:%M:%SZ); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$report"

section "Machine"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1 || echo "nvidia-smi failed"
  nvcc --version 2>&1 | tail -2
  cmake --version | head -1
  lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)' || true
} | fenced

# Only the architecture of the GPU present (fast compile); falls back to sm_80 + sm_90 without nvidia-smi.
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
[ -n "$arch" ] || arch="80-real;90"
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)

section "Build (FASTRANK_CUDA=ON, CMAKE_CUDA_ARCHITECTURES=$arch)"
if timeout 240 cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DFASTRANK_CUDA=ON \
     -DFASTRANK_CUDA_WERROR=OFF "-DCMAKE_CUDA_ARCHITECTURES=$arch" >"$out/configure.log" 2>&1 &&
   timeout 240 cmake --build "$build" --parallel >"$out/build.log" 2>&1; then
  echo "build OK" | fenced
else
  { echo "BUILD FAILED"; tail -40 "$out/configure.log" "$out/build.log" 2>/dev/null; } | fenced
  cat "$report"
  exit 1
fi

section "CUDA parity (every CUDA kernel against the scalar CPU reference)"
timeout 120 "$build/bin/fastrank_cuda_parity" >"$out/parity.log" 2>&1
rc=$?
fenced <"$out/parity.log"
if [ $rc -eq 77 ]; then
  status=77
  echo "no CUDA device: the CUDA kernels were compiled but not run (exit code 77)" | fenced
elif [ $rc -ne 0 ]; then
  status=1
  echo "PARITY FAILED (exit code $rc)" | fenced
fi

section "Native unit tests (CTest)"
if [ -x "$build/bin/fastrank_native_tests" ]; then
  timeout 120 ctest --test-dir "$build" --output-on-failure -E fastrank_cuda_parity >"$out/ctest.log" 2>&1 || status=1
  grep -E "tests passed|tests failed|Failed|\*\*\*" "$out/ctest.log" | fenced
else
  echo "GoogleTest not installed here: native unit tests not built" | fenced
fi

section "Kernel benchmark"
timeout 150 "$build/bin/fastrank_bench" >"$out/bench.md" 2>&1 || { status=1; echo "(benchmark failed or timed out)" >>"$out/bench.md"; }
cat "$out/bench.md" >>"$report"

# End to end, only where a CUDA build of llama.cpp travelled with the tree (FASTRANK_LLAMA_LIBRARY=path of its
# libllama.so) and a fastrank build can run here: FASTRANK_CLI (e.g. a self-contained `dotnet publish` of
# src/FastRank.Cli), else the Release build under src/FastRank.Cli/bin when dotnet is installed.
section "End to end (fastrank bench, every method, all layers on the GPU)"
cli="${FASTRANK_CLI:-}"
if [ -z "$cli" ] && command -v dotnet >/dev/null && [ -f src/FastRank.Cli/bin/Release/net10.0/FastRank.Cli.dll ]; then
  cli="dotnet src/FastRank.Cli/bin/Release/net10.0/FastRank.Cli.dll"
fi
if [ -z "${FASTRANK_LLAMA_LIBRARY:-}" ] || [ ! -f "${FASTRANK_LLAMA_LIBRARY:-}" ]; then
  echo "skipped: no CUDA llama.cpp (set FASTRANK_LLAMA_LIBRARY to its libllama.so)" | fenced
elif [ -z "$cli" ]; then
  echo "skipped: no fastrank build to run (set FASTRANK_CLI, or carry src/FastRank.Cli/bin with dotnet installed)" | fenced
else
  # shellcheck disable=SC2086 # $cli may be "dotnet path.dll"
  if timeout 120 $cli bench --method all --gpu-layers 999 --sweep-docs 20 100 --reps 3 --warmup 1 --floor-rounds 1 \
       --report "$out/end-to-end" >"$out/end-to-end.log" 2>&1; then
    cat "$out/end-to-end/README.md" >>"$report"
  else
    status=1
    { echo "END-TO-END BENCH FAILED OR TIMED OUT"; tail -30 "$out/end-to-end.log"; } | fenced
  fi
fi

cat "$report"
exit $status
