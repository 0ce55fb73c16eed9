#!/usr/bin/env bash
# The README's main command. What it runs today: set-up, then a check of the shared robot
# description and camera calibration (see README: the full pipeline is not built yet).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
source "$root/scripts/env.sh"
set -u
cd "$root"
check_description "$@"
