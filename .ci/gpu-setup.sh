#!/usr/bin/env bash
# Prepares a Debian/Ubuntu machine for the gpu.js headlessgl tests: the system packages that
# the `gl` npm package (headless WebGL on ANGLE) builds against and Xvfb to give it a display,
# then the `gl` build itself. Each step is skipped when its result is already present, so the
# script can run on every CI job. Run it from anywhere; it works in the repository root.
#
# `gl` comes in as an optional dependency of gpu.js: `npm ci` tries to build it and carries on
# when it cannot. No prebuilt binary is downloaded here (the registry is the only network), so
# it compiles ANGLE from source: 2.5 minutes of CPU time, 5.5 minutes of wall time on the
# shared 2-core machine where this was written.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(libxi-dev libglu1-mesa-dev libglew-dev pkg-config xvfb)

step() { printf '\n==> %s\n' "$*"; }
seconds_since() { echo "$(( $(date +%s) - $1 ))s"; }

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "gpu-setup: installing system packages needs root; run as root or install sudo" >&2
    exit 1
  fi
}

step "system packages: ${PACKAGES[*]}"
started=$(date +%s)
missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "all present"
else
  echo "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "took $(seconds_since "$started")"

step "npm dependencies"
started=$(date +%s)
if [[ -d node_modules/gpu.js ]]; then
  echo "node_modules has gpu.js"
else
  npm ci --no-audit --no-fund
fi
echo "took $(seconds_since "$started")"

step "gl (headless WebGL) native build"
started=$(date +%s)
# node-gyp runs make with this many jobs; 'max' uses every core.
export JOBS="${JOBS:-max}"
gl_loads() { node -e "require('gl')" 2>/dev/null; }
if [[ "${1:-}" != "--rebuild" ]] && gl_loads; then
  echo "node_modules/gl loads; skipping the build (pass --rebuild to force it)"
elif [[ -d node_modules/gl ]]; then
  npm rebuild gl --foreground-scripts
else
  # npm ci skipped the optional package, so install the version gpu.js declares, without saving it.
  version=$(node -p "require('gpu.js/package.json').optionalDependencies.gl")
  npm install --no-save --no-audit --no-fund --foreground-scripts "gl@${version}"
fi
gl_loads || { echo "gpu-setup: node_modules/gl still does not load; see the build output above" >&2; exit 1; }
echo "took $(seconds_since "$started")"

step "WebGL context under Xvfb"
xvfb-run -a node -e "
const gl = require('gl')(1, 1);
if (!gl) { console.error('gl could not create a context'); process.exit(1); }
console.log(gl.getParameter(gl.VERSION) + ', renderer ' + gl.getParameter(gl.RENDERER) + ', float textures: ' + Boolean(gl.getExtension('OES_texture_float')));
"
