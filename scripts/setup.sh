#!/usr/bin/env bash
# Idempotent set-up: .venv with torch (CPU, pinned), PufferLib 3.0.0 built from its sdist, and this
# project editable with its dev extras. A second run only checks and exits in seconds.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
TORCH_VERSION=2.13.0
PUFFER_VERSION=3.0.0
STAMP="$VENV/.autopilot-setup"
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# The stamp records what was installed from which inputs; a change to pyproject.toml re-installs.
want_stamp="torch=$TORCH_VERSION pufferlib=$PUFFER_VERSION pyproject=$(sha256sum pyproject.toml | cut -c1-16)"

check_puffer() {
    "$PY" - <<'PYCHECK' || die "PufferLib $PUFFER_VERSION is installed but does not work (see above)"
import warnings
import pufferlib.pufferl  # noqa: F401  (the import itself is the check)
warnings.resetwarnings()
from pufferlib.ocean import env_creator
env = env_creator("puffer_cartpole")(num_envs=2)
env.reset(seed=0)
env.close()
print("[setup] pufferlib.pufferl imports and the C env puffer_cartpole steps")
PYCHECK
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] && [ -x "$PY" ]; then
    check_puffer
    say "already set up ($want_stamp)"
    exit 0
fi

command -v python3 >/dev/null || die "python3 not found"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 is required"
[ -x "$PY" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
PIP=("$PY" -m pip install --quiet)
# This machine's pip config names local index folders that may be absent; their warnings are noise.
export PIP_NO_WARN_SCRIPT_LOCATION=1

say "installing torch==$TORCH_VERSION (CPU) and build tools"
"${PIP[@]}" "torch==$TORCH_VERSION" 'numpy>=1.26,<2.0' 'Cython>=3.0' wheel 'setuptools>=69'

if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('pufferlib') != '$PUFFER_VERSION')" 2>/dev/null; then
    say "building pufferlib==$PUFFER_VERSION from its source package (about 2 minutes)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # pip fetches and unpacks the sdist, then fails while preparing metadata (setup.py downloads raylib
    # and box2d from the web); --no-clean leaves the unpacked source behind.
    TMPDIR="$work" "$PY" -m pip download --quiet --no-deps --no-build-isolation --no-clean \
        "pufferlib==$PUFFER_VERSION" -d "$work/dl" >/dev/null 2>&1 || true
    src=""
    if ls "$work"/dl/pufferlib-*.tar.gz >/dev/null 2>&1; then
        tar -xzf "$work"/dl/pufferlib-*.tar.gz -C "$work"
        src=$(find "$work" -maxdepth 1 -type d -name 'pufferlib-*' | head -n 1)
    fi
    [ -n "$src" ] || src=$(find "$work" -maxdepth 3 -type f -name setup.py -path '*pufferlib*' -printf '%h\n' | head -n 1)
    [ -n "$src" ] && [ -f "$src/setup.py" ] || die "could not fetch the pufferlib==$PUFFER_VERSION source package from PyPI"
    say "source in $src"
    # Empty folders make setup.py skip its web downloads; impulse_wars is the one env that needs box2d.
    mkdir -p "$src/raylib-5.5_webassembly" "$src/box2d-web" "$src/box2d-linux-amd64"
    rm -rf "$src/pufferlib/ocean/impulse_wars"
    # A PATH without /usr/local/bin hides the nvcc wrapper, so setup.py builds the CPU extension.
    (cd "$src" && PATH="$VENV/bin:/usr/bin:/bin" TMPDIR="$work" "$PY" -m pip install --quiet \
        --no-build-isolation .) || die "building pufferlib==$PUFFER_VERSION failed (see above)"
fi

# The report test renders report.html in headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing chromium (Debian package) for the report test"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
            || die "could not install chromium with apt-get"
    else
        say "warning: chromium is missing and cannot be installed here (not root); the report test will fail"
    fi
fi

say "installing rl-autopilot (editable) with its dev, llm, ray, tracking, dashboard and peers extras (the tests use them all)"
"${PIP[@]}" -e ".[dev,llm,ray,tracking,dashboard,peers]"
check_puffer
echo "$want_stamp" >"$STAMP"
say "done"
