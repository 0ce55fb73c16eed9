#!/usr/bin/env bash
# Run src/simhum/test/test_launch.py (launch/bringup.launch.py through ROS 2 Jazzy's own
# `launch` and `launch_ros`) on a machine without ROS: those two packages are pure Python
# but not on PyPI, so this fetches their Jazzy releases into build/launch_deps/ once, with
# osrf-pycommon beside them and a stand-in for composition_interfaces (launch_ros imports
# its service types at import time; SimHum composes no nodes). On a robot with ROS 2 Jazzy
# from apt none of this is needed: `python -m pytest src/simhum/test/test_launch.py`.
#   bash scripts/launch_test.sh                       # clones from github.com/ros2
#   SIMHUM_LAUNCH_GIT=/path/to/mirrors bash scripts/launch_test.sh   # launch/, launch_ros/ there
# Extra arguments go to pytest.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=$root/build/launch_deps
git_base=${SIMHUM_LAUNCH_GIT:-https://github.com/ros2}
# The releases on the jazzy branches this was checked against (tags of ros2/launch and
# ros2/launch_ros) and the osrf-pycommon that launch imports.
launch_tag=3.4.3
launch_ros_tag=0.26.6
pycommon=osrf-pycommon==2.0.2
stamp="$deps/.simhum-ready"

log() { printf '[launch_test] %s\n' "$*"; }

bash "$root/scripts/setup.sh"
exec 9<"${BASH_SOURCE[0]}"
flock 9  # one fetch at a time
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$launch_tag $launch_ros_tag $pycommon" ]; then
  # a fetch that stops half way leaves nothing behind: the next run starts from scratch
  trap '[ -f "$stamp" ] || rm -rf "$deps"' EXIT
  trap 'exit 1' INT TERM
  rm -rf "$deps"
  mkdir -p "$deps"
  log "fetching launch $launch_tag and launch_ros $launch_ros_tag from $git_base"
  git -c advice.detachedHead=false clone -q --depth 1 -b "$launch_tag" \
    "$git_base/launch" "$deps/launch"
  git -c advice.detachedHead=false clone -q --depth 1 -b "$launch_ros_tag" \
    "$git_base/launch_ros" "$deps/launch_ros"
  "$root/.venv/bin/python" -m pip -q --disable-pip-version-check install \
    --target "$deps/extra" "$pycommon" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  mkdir -p "$deps/extra/composition_interfaces/srv"
  : > "$deps/extra/composition_interfaces/__init__.py"
  cat > "$deps/extra/composition_interfaces/srv/__init__.py" <<'EOF'
"""Stand-in for composition_interfaces' services: launch_ros names them in type hints of its
LoadComposableNodes action, which SimHum's launch files never use."""


class _Service:
    class Request: ...

    class Response: ...


class LoadNode(_Service): ...


class UnloadNode(_Service): ...


class ListNodes(_Service): ...
EOF
  printf '%s' "$launch_tag $launch_ros_tag $pycommon" > "$stamp"
fi

set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
source "$root/scripts/env.sh"
set -u
cd "$root"
export PYTHONPATH="$deps/launch/launch:$deps/launch_ros/launch_ros:$deps/extra:$PYTHONPATH"
python -m pytest src/simhum/test/test_launch.py "$@"
