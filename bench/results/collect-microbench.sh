#!/usr/bin/env bash
# Runs the GGUF parsing, prompt-building and end-to-end benchmarks (BenchmarkDotNet, memory diagnoser) and writes
# bench/results/microbench-<name>.md from BenchmarkDotNet's own GitHub Markdown reports (concatenated, never edited).
# Usage: bench/results/collect-microbench.sh <machine-name>
set -euo pipefail
cd "$(dirname "$0")/../.."
name="${1:?usage: collect-microbench.sh <machine-name, e.g. amd-epyc-avx512>}"
rm -rf BenchmarkDotNet.Artifacts
dotnet run -c Release --project bench/FastRank.Bench -- --filter '*.EndToEnd.*'
out="bench/results/microbench-$name.md"
{
  echo "<!-- Generated: cat of BenchmarkDotNet's GitHub Markdown reports, dotnet run -c Release --project bench/FastRank.Bench -- --filter '*.EndToEnd.*' -->"
  for c in GgufParsing Prompt Rerank Allocation; do
    echo
    echo "## ${c}Benchmarks"
    echo
    cat "BenchmarkDotNet.Artifacts/results/FastRank.Bench.EndToEnd.${c}Benchmarks-report-github.md"
  done
} >"$out"
echo "wrote $out"
