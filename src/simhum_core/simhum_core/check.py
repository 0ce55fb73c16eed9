"""``check_description``: load a robot and a camera calibration, check them, print a summary."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from simhum_core.calibration import load_calibration
from simhum_core.errors import DescriptionError
from simhum_core.kinematics import max_fk_disagreement
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.robot import load_robot


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 2 with a one-line reason for a bad file, never a traceback."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--urdf", default=str(default_urdf()), help="URDF or xacro file")
    parser.add_argument("--tool-frame", default="tcp", help="tool-centre-point link")
    parser.add_argument("--calibration", default=str(default_calibration()))
    parser.add_argument(
        "--xacro-arg", action="append", default=[], metavar="NAME:=VALUE", help="xacro argument"
    )
    parser.add_argument("--samples", type=int, default=1000, help="FK comparisons")
    args = parser.parse_args(argv)
    try:
        xacro_args = dict(_split_mapping(a) for a in args.xacro_arg)
        robot = load_robot(args.urdf, tool_frame=args.tool_frame, xacro_args=xacro_args)
        camera = load_calibration(args.calibration)
    except DescriptionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    print(f"robot '{robot.name}' from {robot.source}")
    print(f"  base frame {robot.base_frame}, tool frame {robot.tool_frame}")
    print(f"  {'joint':<24}{'lower':>9}{'upper':>9}{'vel':>7}{'effort':>8}  role")
    for i, name in enumerate(robot.joint_names):
        role = "arm" if name in robot.arm_joint_names else "gripper"
        print(
            f"  {name:<24}{robot.lower[i]:>9.3f}{robot.upper[i]:>9.3f}"
            f"{robot.velocity[i]:>7.2f}{robot.effort[i]:>8.1f}  {role}"
        )
    err = max_fk_disagreement(robot, samples=args.samples, seed=0)
    print(
        f"  MuJoCo vs pinocchio tool-frame pose, {args.samples} random configurations: "
        f"max difference {err:.2e}"
    )
    origin = camera.T_base_camera[:3, 3]
    view = camera.T_base_camera[:3, 2]
    print(f"camera '{camera.camera_name}' from {camera.source}")
    print(
        f"  {camera.width}x{camera.height}, fx={camera.K[0, 0]:.1f} fy={camera.K[1, 1]:.1f}, "
        f"at {np.round(origin, 3).tolist()} in {camera.parent_frame}, "
        f"looking along {np.round(view, 3).tolist()}"
    )
    return 0


def _split_mapping(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":=")
    if not sep or not name:
        raise DescriptionError(f"xacro argument '{text}' must look like NAME:=VALUE")
    return name, value


if __name__ == "__main__":
    sys.exit(main())
