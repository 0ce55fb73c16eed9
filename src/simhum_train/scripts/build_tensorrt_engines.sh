#!/usr/bin/env bash
# Build TensorRT engines from an exported SimHum policy, ON THE ROBOT (or any machine with
# TensorRT). It cannot run on the SimHum build machines: no registry reachable from them
# serves TensorRT, so `trtexec` is absent there and this script has never been run there.
#
#   bash build_tensorrt_engines.sh exports/simhum_policy.onnx [--fp32] [--batch N]
#
# Writes <name>.plan and <name>.denoiser.plan next to the ONNX files (fp16 unless --fp32),
# each with an optimisation profile for batch 1..N (default 1; the policy node samples one
# observation at a time) and the fixed per-sample shapes the contract gives. The ONNX
# metadata stays the source of the contract: keep the .onnx files beside the engines.
#
# The policy node does not need these files: onnxruntime's TensorrtExecutionProvider builds
# and caches its own engines (trt_engine_cache_path). Use this script to validate that the
# graphs convert, to measure latency with trtexec, or for a runtime that loads plans.
set -euo pipefail

usage() { echo "usage: $0 <policy.onnx> [--fp32] [--batch N]" >&2; exit 2; }
[ $# -ge 1 ] || usage
encoder=$1; shift
precision=(--fp16)
batch=1
while [ $# -gt 0 ]; do
  case $1 in
    --fp32) precision=(); shift ;;
    --batch) batch=${2:?--batch needs a number}; shift 2 ;;
    *) usage ;;
  esac
done
[ -f "$encoder" ] || { echo "error: $encoder: no such ONNX file" >&2; exit 2; }
command -v trtexec >/dev/null || {
  echo "error: trtexec not found; install TensorRT (JetPack, or NVIDIA's TensorRT apt" \
       "repository) and put its bin/ on PATH" >&2
  exit 2
}

# The contract's shapes, read from the encoder's metadata (python3 + onnx, no torch).
read -r denoiser T H W P C A guided < <(python3 - "$encoder" <<'PY'
import json, sys
from pathlib import Path

import onnx

path = Path(sys.argv[1])
meta = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
try:
    print(path.parent / meta["denoiser_file"], meta["observation_history"], meta["image_height"],
          meta["image_width"], meta["proprio_dim"], meta["chunk_length"], meta["action_dim"],
          int("guidance_scale" in json.loads(meta["denoiser_inputs"])))
except KeyError as key:
    sys.exit(f"error: {path}: metadata lacks {key}; re-export it with simhum_export")
PY
)
# cond's token count and width: run the encoder once on zeros (onnxruntime, CPU).
read -r N D < <(python3 - "$encoder" "$T" "$H" "$W" "$P" <<'PY'
import sys

import numpy as np
import onnxruntime as ort

path, t, h, w, p = sys.argv[1], *map(int, sys.argv[2:])
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
feeds = {"image": np.zeros((1, t, h, w, 3), np.uint8), "proprio": np.zeros((1, t, p), np.float32)}
print(*session.run(["cond"], feeds)[0].shape[1:])
PY
)

shapes() {  # name:dims with the batch dimension first
  local b=$1; shift
  local out=() spec
  for spec in "$@"; do
    if [ -n "${spec#*:}" ]; then out+=("${spec%%:*}:${b}x${spec#*:}"); else out+=("${spec%%:*}:${b}"); fi
  done
  (IFS=,; echo "${out[*]}")
}
build() {  # onnx plan input-specs...
  local onnx=$1 plan=$2; shift 2
  echo "[trt] $onnx -> $plan (batch 1..$batch ${precision[*]:-fp32})"
  trtexec --onnx="$onnx" --saveEngine="$plan" "${precision[@]}" \
    --minShapes="$(shapes 1 "$@")" --optShapes="$(shapes 1 "$@")" \
    --maxShapes="$(shapes "$batch" "$@")"
}

build "$encoder" "${encoder%.onnx}.plan" "image:${T}x${H}x${W}x3" "proprio:${T}x${P}"
denoiser_specs=("cond:${N}x${D}" "noisy_action:${C}x${A}" "timestep:")
# a guided policy's denoiser takes its classifier-free guidance scale [B] as a fourth input
[ "$guided" = 1 ] && denoiser_specs+=("guidance_scale:")
build "$denoiser" "${denoiser%.onnx}.plan" "${denoiser_specs[@]}"
