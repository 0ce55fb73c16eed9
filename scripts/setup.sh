#!/usr/bin/env bash
# Set up SimHum's environment, idempotently: Debian packages, the project venv (ROS 2 Jazzy
# wheels, MuJoCo, pinocchio, torch CPU, ...), the include-path fix the message wheels need,
# and a colcon build of the workspace. Each step is skipped when its inputs are unchanged.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
stamps="$venv/.simhum-stamps"
python_bin=${SIMHUM_PYTHON:-python3.11}
apt_packages=(cmake g++ make libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libglib2.0-0)

log() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
hash_of() { sha256sum "$@" | sha256sum | cut -c1-16; }
fresh() { [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ]; }
mark() { mkdir -p "$stamps" && printf '%s' "$2" > "$stamps/$1"; }
# pip, minus the warnings about index folders that this machine's pip.conf names but lacks
pip_install() {
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

# 1. Debian packages: a compiler and CMake for the interfaces, Mesa for offscreen rendering.
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

# 2. The project venv, pinned by requirements/lock.txt.
if ! command -v "$python_bin" >/dev/null; then
  echo "[setup] error: $python_bin not found; SimHum's ROS 2 wheels need CPython 3.11" \
       "(set SIMHUM_PYTHON to its path)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  "$python_bin" -m venv "$venv"
fi
lock_hash=$(hash_of "$root/requirements/lock.txt")
if ! fresh lock "$lock_hash"; then
  log "installing Python packages from requirements/lock.txt (a few minutes the first time)"
  pip_install -U pip
  pip_install -r "$root/requirements/lock.txt"
  mark lock "$lock_hash"
fi

# 3. The hand-tracking model, built from mediapipe 0.10.21's wheel (see the script).
hand_model="$venv/share/simhum/hand_landmarker.task"
if [ ! -f "$hand_model" ]; then
  log "building the hand-tracking model from the mediapipe 0.10.21 wheel"
  wheel_dir=$(mktemp -d)
  pip_download() {
    "$venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps "$@" 2>&1 \
      | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  }
  pip_download -d "$wheel_dir" mediapipe==0.10.21
  "$venv/bin/python" "$root/scripts/hand_model_bundle.py" "$wheel_dir"/mediapipe-0.10.21-*.whl \
    "$hand_model"
  rm -rf "$wheel_dir"
fi

# 4. The message wheels' CMake targets name the include folders of the machine that built
#    them (/opt/python/cp311-cp311/...); point those at this venv's Python and numpy.
py_include=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
np_include=$("$venv/bin/python" -c "import numpy; print(numpy.get_include())")
wheel_py=/opt/python/cp311-cp311
for pair in "$wheel_py/include/python3.11=$py_include" \
            "$wheel_py/lib/python3.11/site-packages/numpy/_core/include=$np_include"; do
  link=${pair%%=*} target=${pair#*=}
  if [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
    log "linking $link -> $target"
    as_root mkdir -p "$(dirname "$link")"
    as_root ln -sfn "$target" "$link"
  fi
done

# 5. colcon build of the workspace (symlink install: Python edits need no rebuild).
src_hash=$(cd "$root" && find src launch colcon.meta -type f -not -path '*/__pycache__/*' \
  -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if ! fresh colcon "$src_hash-$lock_hash" || [ ! -f "$root/install/local_setup.bash" ]; then
  log "colcon build"
  (
    cd "$root"
    export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
    "$venv/bin/colcon" build --symlink-install --base-paths src \
      --event-handlers console_cohesion- summary+ status- \
      --cmake-args -DPython3_EXECUTABLE="$venv/bin/python" -Wno-dev
  )
  mark colcon "$src_hash-$lock_hash"
fi
log "environment ready: source scripts/env.sh"
