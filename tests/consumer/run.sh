#!/usr/bin/env bash
# Consumer test: the packages as a user gets them, outside this repository.
#
#  1. packs FastRank, FastRank.Cuda (when libfastrank_cuda is built) and the fastrank tool into a folder feed, with a
#     version of their own (<version>-consumer.<time>) so that no package cache can serve older bits;
#  2. in a temporary folder: `dotnet new console`, `dotnet add package FastRank` from that feed only (package source
#     mapping: FastRank* from the feed, everything else from nuget.org), a program that synthesizes the tiny model and
#     reranks with pointwise, FIRST and ICR and requires the native kernels (RankKernels.Description);
#  3. FastRank.Cuda's dependencies as declared (LLamaSharp.Backend.Cuda12 is left to the consumer's registry);
#  4. `dotnet tool install --tool-path` of FastRank.Cli from the same feed, then `fastrank synth`, `fastrank rerank`
#     and, when the tool has it, `fastrank serve` (health, readiness, one rerank request on loopback);
#  5. linux-arm64: the same program published self-contained for linux-arm64 and run under qemu-aarch64 (when
#     qemu-aarch64 and the arm64 sysroot are installed; .ci/run installs them).
#
# Usage: tests/consumer/run.sh            (from anywhere; needs the .NET 10 SDK, cmake and the cross compilers that
#        FASTRANK_PACK_RUNTIMES names, default linux-x64;linux-arm64;win-x64, with the ones missing left out loudly)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'PASS %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
log() { printf '\n--> %s\n' "$*"; }

work=$(mktemp -d /tmp/fastrank-consumer.XXXXXX)
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  if [ -n "${FASTRANK_CONSUMER_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
feed="$work/feed"
mkdir -p "$feed"

# ---- 1. pack ------------------------------------------------------------------------------------------------
# FASTRANK_CONSUMER_FEED=DIR FASTRANK_CONSUMER_VERSION=V reuses the packages of an earlier run (kept with
# FASTRANK_CONSUMER_KEEP=1) instead of packing.
base=$(dotnet msbuild src/FastRank/FastRank.csproj -getProperty:Version)
version="${FASTRANK_CONSUMER_VERSION:-$base-consumer.$(date +%Y%m%d%H%M%S)}"
runtimes=()
IFS=';' read -r -a wanted <<< "${FASTRANK_PACK_RUNTIMES:-linux-x64;linux-arm64;win-x64}"
for rid in "${wanted[@]}"; do
  case "$rid" in
    linux-arm64) cc=aarch64-linux-gnu-gcc ;;
    win-x64) cc=x86_64-w64-mingw32-gcc-posix ;;
    *) cc=cc ;;
  esac
  if command -v "$cc" >/dev/null; then runtimes+=("$rid"); else echo "!!! WARNING: $cc not found: the FastRank package is packed WITHOUT $rid"; fi
done
rids=$(IFS=';'; echo "${runtimes[*]}")
start=$(date +%s)
cuda_packed=0
if [ -n "${FASTRANK_CONSUMER_FEED:-}" ]; then
  cp "$FASTRANK_CONSUMER_FEED"/*.nupkg "$feed/"
  [ -f "$feed/FastRank.Cuda.$version.nupkg" ] && cuda_packed=1
else
log "packing $version (libfastrank_native for $rids) into $feed"
dotnet pack src/FastRank/FastRank.csproj -c Release -o "$feed" -p:Version="$version" "-p:FastRankPackRuntimes=\"$rids\"" -v:q -nologo
if [ -f artifacts/native/Release/lib/libfastrank_cuda.so ]; then
  dotnet pack src/FastRank.Cuda/FastRank.Cuda.csproj -c Release -o "$feed" -p:Version="$version" -v:q -nologo
  cuda_packed=1
else
  echo "!!! WARNING: artifacts/native/Release/lib/libfastrank_cuda.so is not built (no CUDA compiler): FastRank.Cuda is not packed"
fi
dotnet pack src/FastRank.Cli/FastRank.Cli.csproj -c Release -o "$feed" -p:Version="$version" -v:q -nologo
fi
echo "packed in $(( $(date +%s) - start )) s:"
( cd "$feed" && ls -l ./*.nupkg | awk '{printf "  %-60s %8.1f MB\n", $9, $5 / 1048576}' )

# ---- 2. a fresh console application -------------------------------------------------------------------------
# Only FastRank* comes from the feed; every other package from nuget.org. A package folder of its own (the machine's
# global folder as a read-only fallback, so that LLamaSharp and the rest are not downloaded again).
cat > "$work/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="fastrank-feed" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="fastrank-feed"><package pattern="FastRank" /><package pattern="FastRank.*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
  <fallbackPackageFolders>
    <add key="machine" value="${NUGET_PACKAGES:-$HOME/.nuget/packages}" />
  </fallbackPackageFolders>
</configuration>
EOF
export NUGET_PACKAGES="$work/packages"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

log "dotnet new console + dotnet add package FastRank $version"
app="$work/app"
dotnet new console -o "$app" -n ConsumerApp --framework net10.0 >/dev/null
dotnet add "$app/ConsumerApp.csproj" package FastRank --version "$version" >/dev/null
cp tests/consumer/Program.cs "$app/Program.cs"
if dotnet build "$app/ConsumerApp.csproj" -c Release -v:q -nologo > "$work/app-build.log" 2>&1; then
  ok "a console app builds against the FastRank package"
else
  cat "$work/app-build.log"; bad "a console app builds against the FastRank package"
fi
out="$app/bin/Release/net10.0"
for rid in "${runtimes[@]}"; do
  case "$rid" in win-*) f=fastrank_native.dll ;; *) f=libfastrank_native.so ;; esac
  if [ -f "$out/runtimes/$rid/native/$f" ]; then ok "$rid libfastrank_native in the app's runtimes/$rid/native/"; else bad "$rid libfastrank_native missing from runtimes/$rid/native/"; fi
done
if ls "$out"/runtimes/linux-x64/native/*/libllama.so >/dev/null 2>&1; then
  ok "LLamaSharp.Backend.Cpu (a dependency) brought libllama"
else
  bad "libllama missing from the app's output (LLamaSharp.Backend.Cpu's build assets did not flow)"
fi
log "running the app (synthesize tiny, rerank with pointwise, first, icr)"
if (cd "$work" && dotnet "$out/ConsumerApp.dll") | tee "$work/app.out"; then
  ok "the app reranks with every method on the native kernels"
else
  bad "the app failed"
fi

# The managed fallback in the same layout: without its RID's library FastRank says why and still ranks.
log "the same app with libfastrank_native removed (managed fallback)"
rm -f "$out"/runtimes/*/native/libfastrank_native.so "$out"/runtimes/*/native/fastrank_native.dll
if (cd "$work" && FASTRANK_CONSUMER_EXPECT=managed dotnet "$out/ConsumerApp.dll") > "$work/managed.out" 2>&1 &&
   grep -q "managed" "$work/managed.out"; then
  ok "missing RID: managed kernels, reason: $(grep -m1 '^kernels:' "$work/managed.out")"
else
  cat "$work/managed.out"; bad "missing RID: managed fallback"
fi

# ---- 3. FastRank.Cuda ---------------------------------------------------------------------------------------
if [ "$cuda_packed" -eq 1 ]; then
  log "FastRank.Cuda: contents and declared dependencies"
  nuspec=$(unzip -p "$feed/FastRank.Cuda.$version.nupkg" FastRank.Cuda.nuspec)
  listing=$(unzip -l "$feed/FastRank.Cuda.$version.nupkg")
  if grep -q "id=\"FastRank\" version=\"$version\"" <<< "$nuspec" && grep -q 'id="LLamaSharp.Backend.Cuda12" version="0.30.0"' <<< "$nuspec" &&
     grep -q 'runtimes/linux-x64/native/libfastrank_cuda.so' <<< "$listing"; then
    ok "FastRank.Cuda carries runtimes/linux-x64/native/libfastrank_cuda.so and depends on FastRank $version and LLamaSharp.Backend.Cuda12 0.30.0"
  else
    bad "FastRank.Cuda's contents or dependencies"
  fi
  # A consumer's restore: FastRank.Cuda and FastRank come from the feed; LLamaSharp.Backend.Cuda12 is asked of
  # nuget.org. Where that registry does not serve it (this project's mirror) the restore must fail on it alone.
  cuda_app="$work/cuda-app"
  dotnet new console -o "$cuda_app" -n CudaApp --framework net10.0 >/dev/null
  if dotnet add "$cuda_app/CudaApp.csproj" package FastRank.Cuda --version "$version" > "$work/cuda-add.log" 2>&1; then
    ok "FastRank.Cuda restores with LLamaSharp.Backend.Cuda12 from nuget.org"
  elif grep -q "LLamaSharp.Backend.Cuda12" "$work/cuda-add.log" && ! grep -E "NU110[0-9].*FastRank" "$work/cuda-add.log" >/dev/null; then
    ok "FastRank.Cuda resolves from the feed; LLamaSharp.Backend.Cuda12 is requested from nuget.org, which does not serve it here ($(grep -o -m1 'NU1[0-9]*' "$work/cuda-add.log"))"
  else
    cat "$work/cuda-add.log"; bad "FastRank.Cuda restore"
  fi
fi

# ---- 4. the fastrank tool -----------------------------------------------------------------------------------
log "dotnet tool install --tool-path FastRank.Cli $version"
tools="$work/tools"
if dotnet tool install FastRank.Cli --version "$version" --tool-path "$tools" --configfile "$work/nuget.config" > "$work/tool.log" 2>&1; then
  ok "the fastrank tool installs from the feed ($(ls "$tools/.store" 2>/dev/null | tr '\n' ' '))"
else
  cat "$work/tool.log"; bad "the fastrank tool installs"
fi
fastrank="$tools/fastrank"
if [ -x "$fastrank" ]; then
  native=$(find "$tools/.store" -name 'libfastrank_native.so' | head -1)
  if [ -n "$native" ] && ! find "$tools/.store" -path '*/runtimes/*' -name 'libllama.so' | grep -v "/runtimes/linux-x64/" | grep -q .; then
    ok "the installed tool is linux-x64 only: ${native#"$tools/.store/"}, LLamaSharp's linux-x64 libraries alone"
  else
    bad "the installed tool's native files"
  fi
  model="$work/tool-tiny.gguf"
  if "$fastrank" synth --shape tiny --out "$model" >/dev/null && [ -s "$model" ]; then ok "fastrank synth --shape tiny"; else bad "fastrank synth"; fi
  for method in pointwise first icr; do
    if printf 'Paris is the capital of France.\nBananas are rich in potassium.\nThe Eiffel Tower is in Paris.\n' |
       "$fastrank" rerank --model "$model" --query "capital of France" --docs - --method "$method" --json --threads 1 > "$work/rerank.json" &&
       grep -q '"index"' "$work/rerank.json"; then
      ok "fastrank rerank --method $method"
    else
      cat "$work/rerank.json" 2>/dev/null; bad "fastrank rerank --method $method"
    fi
  done
  # `fastrank serve` (a tool built without it skips this part).
  if "$fastrank" --help 2>/dev/null | grep -qE '^ +serve( |$)'; then
    log "fastrank serve on loopback"
    port=$(( 20000 + RANDOM % 20000 ))
    "$fastrank" serve --model "$model" --port "$port" > "$work/serve.log" 2>&1 &
    serve_pid=$!
    ready=0
    for _ in $(seq 1 120); do
      if curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ready=1; break; fi
      kill -0 "$serve_pid" 2>/dev/null || break
      sleep 0.5
    done
    if [ "$ready" -eq 1 ] &&
       curl -sf "http://127.0.0.1:$port/v1/rerank" -H 'Content-Type: application/json' \
         -d '{"query":"capital of France","documents":["Paris is the capital of France.","Bananas are yellow."]}' > "$work/serve.json" &&
       grep -q '"index"' "$work/serve.json"; then
      ok "fastrank serve answers /health/ready and POST /v1/rerank"
    else
      cat "$work/serve.log"; bad "fastrank serve"
    fi
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    serve_pid=""
  else
    echo "(this fastrank has no serve command: skipped)"
  fi
fi

# ---- 5. linux-arm64 under qemu ------------------------------------------------------------------------------
# The .NET runtime comes from the linux-arm64 runtime pack (self-contained publish); the C libraries from Debian's
# arm64 sysroot (g++-aarch64-linux-gnu). LLamaSharp.Backend.Cpu 0.30.0's linux-arm64 llama.cpp needs glibc 2.38;
# where the sysroot's glibc is older (Debian 12: 2.36) only the kernels run (a top-k through RankKernels on NEON).
if [[ ";$rids;" == *";linux-arm64;"* ]] && command -v qemu-aarch64 >/dev/null && [ -d /usr/aarch64-linux-gnu/lib ]; then
  log "linux-arm64: the app published self-contained for linux-arm64, run under qemu-aarch64"
  if dotnet publish "$app/ConsumerApp.csproj" -c Release -r linux-arm64 --self-contained -p:InvariantGlobalization=true \
       -o "$work/arm64" -v:q -nologo > "$work/arm64-publish.log" 2>&1; then
    kernels_only=0
    llama_arm64=$(find "$work/arm64" -name 'libggml-base.so' | head -1)
    need=$(strings "$llama_arm64" | grep -o '^GLIBC_2\.[0-9]*$' | sort -t. -k2 -n | tail -1)
    if [ -n "$need" ] && ! strings /usr/aarch64-linux-gnu/lib/libc.so.6 | grep -qx "$need"; then
      kernels_only=1
      echo "(llama.cpp not run: LLamaSharp's linux-arm64 build needs $need, the arm64 sysroot's glibc is $(strings /usr/aarch64-linux-gnu/lib/libc.so.6 | grep -o '^GLIBC_2\.[0-9]*$' | sort -t. -k2 -n | tail -1))"
    fi
    if (cd "$work" && FASTRANK_CONSUMER_KERNELS_ONLY=$kernels_only timeout 900 qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/arm64/ConsumerApp") | tee "$work/arm64.out" &&
       grep -q "native neon" "$work/arm64.out"; then
      if [ "$kernels_only" -eq 1 ]; then ok "linux-arm64 under qemu: the package's NEON kernels load and rank"; else ok "linux-arm64 under qemu: every method on the native NEON kernels"; fi
    else
      bad "linux-arm64 under qemu"
    fi
  else
    cat "$work/arm64-publish.log"; bad "linux-arm64 self-contained publish"
  fi
else
  echo "(linux-arm64 under qemu skipped: qemu-aarch64, the arm64 sysroot or the arm64 library missing)"
fi

printf '\nconsumer: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
