#!/usr/bin/env bash
# The README's main command: set-up, a check of the shared robot description, then the whole
# SimHum pipeline (simhum demo): generate sim, proxy-human and proxy-real demonstrations,
# pre-train on sim + human, fine-tune on real, export ONNX, bring up the sim graph with the
# policy node, evaluate in- and out-of-distribution, record one rosbag, print a summary.
#   bash scripts/main.sh                      # the quick preset (< 30 min on 2 cores)
#   bash scripts/main.sh --preset standard    # larger presets: see README
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
source "$root/scripts/env.sh"
set -u
cd "$root"
check_description --samples 200
exec simhum demo "$@"
