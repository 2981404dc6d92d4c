#!/usr/bin/env bash
# Runs the kernel benchmarks and writes bench/results/kernels-<name>.md from BenchmarkDotNet's own GitHub
# Markdown reports (concatenated, never edited). Usage: bench/results/collect-kernels.sh <machine-name>
set -euo pipefail
cd "$(dirname "$0")/../.."
name="${1:?usage: collect-kernels.sh <machine-name, e.g. amd-epyc-avx512>}"
rm -rf BenchmarkDotNet.Artifacts
dotnet run -c Release --project bench/FastRank.Bench -- --filter '*Kernel*'
out="bench/results/kernels-$name.md"
{
  echo "<!-- Generated: cat of BenchmarkDotNet's GitHub Markdown reports, dotnet run -c Release --project bench/FastRank.Bench -- --filter '*Kernel*' -->"
  for c in TopK Logits Attention Calibration Embedding; do
    echo
    echo "## ${c}KernelBenchmarks"
    echo
    cat "BenchmarkDotNet.Artifacts/results/FastRank.Bench.Kernels.${c}KernelBenchmarks-report-github.md"
  done
} >"$out"
echo "wrote $out"
