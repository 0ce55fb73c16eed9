#!/usr/bin/env bash
# Build .venv-lerobot/: a venv of its own for Hugging Face's `lerobot` library, used only to
# check SimHum's LeRobot exports with LeRobot's own LeRobotDataset loader. It cannot share
# .venv: lerobot 0.4.4 (the newest release for Python 3.11) pins torch < 2.11 and SimHum runs
# torch 2.13. PyPI has no CPU-only torch build, so this pulls torch 2.10's default (CUDA)
# wheel and its nvidia-* libraries; the check itself runs on the CPU.
# Idempotent: when the venv is complete (its stamp names these pins) it does nothing.
# Measured on 2 cores with an empty pip cache: 5 min (297 s), 8.3 GB (4.3 GB of it the
# nvidia-* libraries that PyPI's torch wheel requires).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${SIMHUM_LEROBOT_VENV:-$root/.venv-lerobot}
python_bin=${SIMHUM_PYTHON:-python3.11}
pins=(lerobot==0.4.4 torch==2.10.0 torchvision==0.25.0)
stamp="$venv/.simhum-ready"

log() { printf '[lerobot_env] %s\n' "$*"; }
# pip, minus the warnings about index folders that this machine's pip.conf names but lacks
pip_in_venv() {
  "$venv/bin/python" -m pip -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

exec 9<"${BASH_SOURCE[0]}"
flock 9  # one build at a time (two test runs may ask at once)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${pins[*]}" ]; then
  exit 0
fi
if ! command -v "$python_bin" >/dev/null; then
  echo "[lerobot_env] error: $python_bin not found (set SIMHUM_PYTHON to a CPython 3.10-3.12)" >&2
  exit 1
fi
# A build that stops half way leaves nothing behind: the next run starts from scratch.
trap '[ -f "$stamp" ] || rm -rf "$venv"' EXIT
trap 'exit 1' INT TERM  # so that the EXIT trap runs when the build is stopped
rm -rf "$venv"
# Room for the venv and pip's downloads first: a build that fills the disk would fail every
# test after it, far from the cause.
need_gb=12
free_gb=$(df -Pk "$(dirname "$venv")" | awk 'NR == 2 {print int($4 / 1048576)}')
if [ "$free_gb" -lt "$need_gb" ]; then
  echo "[lerobot_env] error: $free_gb GB free beside $venv; building it takes about" \
       "$need_gb GB (8.3 GB installed, plus pip's downloads)" >&2
  exit 1
fi
start=$SECONDS
log "building $venv with ${pins[*]} (about 5 minutes and 8 GB)"
"$python_bin" -m venv "$venv"
pip_in_venv install -U pip
pip_in_venv install "${pins[@]}"
"$venv/bin/python" -c "import lerobot.datasets.lerobot_dataset"
printf '%s' "${pins[*]}" > "$stamp"
log "ready in $((SECONDS - start)) s, $(du -sh "$venv" | cut -f1) on disk"
