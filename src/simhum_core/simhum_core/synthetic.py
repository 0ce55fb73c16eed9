"""Generate simple serial-arm URDFs: a second robot for tests that nothing is hard-coded."""

from __future__ import annotations

import numpy as np

AXES = ("0 0 1", "0 1 0", "1 0 0")


def serial_arm_urdf(dof: int, seed: int = 0, prefix: str = "j", tool_frame: str = "tool0") -> str:
    """A ``dof``-joint revolute arm with random link offsets, axes and limits, plus one
    prismatic finger, its own joint names and a tool frame named ``tool_frame``."""
    if dof < 1:
        raise ValueError(f"dof must be at least 1, got {dof}")
    rng = np.random.default_rng(seed)
    parts = [
        f'<robot name="serial_{dof}dof_{seed}">',
        '<mujoco><compiler fusestatic="false" discardvisual="false"/></mujoco>',
        _link("root", 2.0, 0.05),
    ]
    parent = "root"
    for i in range(dof):
        child = f"{prefix}link{i + 1}"
        offset = [*rng.uniform(-0.03, 0.03, 2).round(4), round(rng.uniform(0.08, 0.2), 4)]
        rpy = rng.uniform(-0.4, 0.4, 3).round(4).tolist()
        lower = round(-rng.uniform(1.2, 3.0), 4)
        upper = round(rng.uniform(1.2, 3.0), 4)
        parts.append(_link(child, round(1.5 - 0.15 * i, 3), 0.04))
        parts.append(
            f'<joint name="{prefix}{i + 1}" type="revolute"><parent link="{parent}"/>'
            f'<child link="{child}"/><origin xyz="{_v(offset)}" rpy="{_v(rpy)}"/>'
            f'<axis xyz="{AXES[int(rng.integers(len(AXES)))]}"/>'
            f'<limit lower="{lower}" upper="{upper}" velocity="2.0" effort="50"/></joint>'
        )
        parent = child
    parts += [
        _link(f"{prefix}finger", 0.05, 0.01),
        f'<joint name="{prefix}finger_joint" type="prismatic"><parent link="{parent}"/>'
        f'<child link="{prefix}finger"/><origin xyz="0 0 0.05"/><axis xyz="0 1 0"/>'
        '<limit lower="0" upper="0.03" velocity="0.1" effort="20"/></joint>',
        f'<link name="{tool_frame}"/>',
        f'<joint name="{tool_frame}_joint" type="fixed"><parent link="{parent}"/>'
        f'<child link="{tool_frame}"/><origin xyz="0.01 0 0.09" rpy="0.1 0 0.2"/></joint>',
        "</robot>",
    ]
    return "\n".join(parts)


def _link(name: str, mass: float, radius: float) -> str:
    inertia = 0.4 * mass * radius**2
    return (
        f'<link name="{name}"><inertial><origin xyz="0 0 {radius}"/><mass value="{mass}"/>'
        f'<inertia ixx="{inertia:.6g}" ixy="0" ixz="0" iyy="{inertia:.6g}" iyz="0" '
        f'izz="{inertia:.6g}"/></inertial><visual><origin xyz="0 0 {radius}"/><geometry>'
        f'<sphere radius="{radius}"/></geometry></visual></link>'
    )


def _v(values: list[float]) -> str:
    return " ".join(str(v) for v in values)
