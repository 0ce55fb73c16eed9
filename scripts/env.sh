# Source this file (bash) to put a shell into SimHum's environment: the project venv plus the
# colcon workspace overlay. Run scripts/setup.sh first.
_simhum_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -f "$_simhum_root/install/local_setup.bash" ]; then
  echo "SimHum is not set up yet: run bash $_simhum_root/scripts/setup.sh" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
source "$_simhum_root/.venv/bin/activate"
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$VIRTUAL_ENV:"*) ;;
  *) export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
esac
export CMAKE_PREFIX_PATH="$AMENT_PREFIX_PATH"
# shellcheck disable=SC1091
source "$_simhum_root/install/local_setup.bash"
# Each package's executables live in install/<pkg>/lib/<pkg> (where `ros2 run` looks); with
# no ros2 CLI here, put them on PATH.
for _simhum_bin in "$_simhum_root"/install/*/lib/*/; do
  case "$_simhum_bin" in */lib/python*) ;; *) PATH="${_simhum_bin%/}:$PATH" ;; esac
done
unset _simhum_bin
export PATH
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
export MUJOCO_GL=${MUJOCO_GL:-egl}
export SIMHUM_ROOT="$_simhum_root"
unset _simhum_root
