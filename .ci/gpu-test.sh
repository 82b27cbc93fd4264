#!/usr/bin/env bash
# Runs the GPU backend tests (test/gpu-*.test.ts) once per gpu.js mode that works in Node:
# headlessgl (WebGL 1 through the `gl` package, under Xvfb with Mesa's software rasterizer),
# webasm and cpu. Prints the time of each mode, then the totals as mocha prints them.
#
# CI defaults to 1 here, so a mode that cannot start fails its tests with the reason instead of
# skipping them. SINGLORA_GPU_MODES picks the modes, e.g. SINGLORA_GPU_MODES=headlessgl.
# Run .ci/gpu-setup.sh first on a fresh machine.
set -uo pipefail
cd "$(dirname "$0")/.."

export CI="${CI:-1}"
read -r -a modes <<< "${SINGLORA_GPU_MODES:-headlessgl webasm cpu}"

# The CPU backend's WebAssembly kernel is generated, not committed (npm test does this in pretest).
node scripts/build-wasm.mjs >/dev/null || { echo "gpu-test: scripts/build-wasm.mjs failed" >&2; exit 1; }

mocha=(npx mocha --no-config --node-option import=tsx --timeout 60000 --reporter spec 'test/gpu-*.test.ts')
total_passed=0
total_failed=0
summary=()
status=0

for mode in "${modes[@]}"; do
  printf '\n==> gpu.js mode %s\n' "$mode"
  output="$(mktemp)"
  started=$(date +%s.%N)
  if [[ "$mode" == headlessgl ]]; then
    SINGLORA_GPU_MODE="$mode" xvfb-run -a "${mocha[@]}" 2>&1 | tee "$output"
  else
    SINGLORA_GPU_MODE="$mode" "${mocha[@]}" 2>&1 | tee "$output"
  fi
  code=${PIPESTATUS[0]}
  elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  passed=$(grep -Eo '^ +[0-9]+ passing' "$output" | grep -Eo '[0-9]+' || echo 0)
  failed=$(grep -Eo '^ +[0-9]+ failing' "$output" | grep -Eo '[0-9]+' || echo 0)
  if [[ "$code" -ne 0 && "$failed" -eq 0 ]]; then
    echo "gpu-test: mode $mode exited with code $code without a mocha failure count; counting one failure"
    failed=1
  fi
  [[ "$failed" -eq 0 ]] || status=1
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  summary+=("$(printf '%-11s %4s passing %3s failing %7ss' "$mode" "$passed" "$failed" "$elapsed")")
  rm -f "$output"
done

printf '\n==> gpu tests by mode\n'
printf '%s\n' "${summary[@]}"
# Totals in mocha's format, last, for scripts that read the final counts.
echo
echo "  ${total_passed} passing"
[[ "$total_failed" -eq 0 ]] || echo "  ${total_failed} failing"
exit "$status"
