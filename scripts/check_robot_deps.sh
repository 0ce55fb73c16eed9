#!/usr/bin/env bash
# Resolve the robot's pip requirements (docker/robot-requirements-<arch>.txt) as pip would on
# the robot: Python 3.12 (Ubuntu 24.04, ROS 2 Jazzy), Linux x86_64 and aarch64, wheels only,
# next to apt's numpy 1.26. Prints the resolved set; exits 0 when every architecture resolves
# with numpy < 2, 1 when one does not, 3 when the package index (pip's configuration) could
# not be reached or a download broke off, so nothing was decided.
#   bash scripts/check_robot_deps.sh [x86_64|aarch64 ...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x86_64 aarch64)
report_dir=$(mktemp -d)
trap 'rm -rf "$report_dir"' EXIT
status=0
# what pip prints when the index is unreachable or a download breaks off (not a conflict)
network_errors="network connectivity|incomplete-download|NewConnectionError|connection broken|\
Max retries exceeded|Temporary failure in name resolution|ReadTimeoutError|Connection refused"
for arch in "${archs[@]}"; do
  requirements="$root/docker/robot-requirements-$arch.txt"
  if [ ! -f "$requirements" ]; then
    echo "check_robot_deps: no $requirements (architectures: x86_64, aarch64)" >&2
    exit 2
  fi
  # pip matches --platform tags exactly: list every manylinux tag Ubuntu 24.04 (glibc 2.39)
  # accepts.
  platforms=()
  for glibc in 39 38 35 34 31 28 27 26 24 17; do
    platforms+=(--platform "manylinux_2_${glibc}_$arch")
  done
  platforms+=(--platform "manylinux2014_$arch" --platform "linux_$arch")
  report="$report_dir/$arch.json"
  if ! "$python" -m pip install --dry-run --quiet --disable-pip-version-check \
      --ignore-installed --only-binary=:all: --python-version 3.12 "${platforms[@]}" \
      --target "$report_dir/target" --report "$report" -r "$requirements" 2>"$report_dir/err"; then
    grep -v "is ignored: it is neither a file nor a directory" "$report_dir/err" >&2 || true
    if grep -qE "$network_errors" "$report_dir/err"; then
      echo "[$arch] not checked: the package index could not be reached" >&2
      [ $status -ne 0 ] || status=3
    else
      echo "[$arch] does NOT resolve" >&2
      status=1
    fi
    continue
  fi
  "$python" - "$report" "$arch" <<'PY' || status=1
import json
import sys

report, arch = sys.argv[1], sys.argv[2]
installed = {
    item["metadata"]["name"].lower(): item["metadata"]["version"]
    for item in json.load(open(report))["install"]
}
numpy = installed.get("numpy", "")
print(f"[{arch}] resolves for Python 3.12: " + " ".join(f"{n}=={v}" for n, v in sorted(installed.items())))
if int(numpy.split(".")[0] or 0) >= 2:
    sys.exit(f"[{arch}] needs numpy {numpy}: apt's pinocchio and cv_bridge need numpy < 2")
PY
done
exit $status
