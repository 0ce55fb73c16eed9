"""Load a robot from URDF or xacro: joints, limits and frames, checked, with clear errors.

Kinematics come from pinocchio and physics from MuJoCo, both reading the same URDF text, so
nothing downstream hard-codes joint names, counts or frames.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from xml.parsers.expat import ExpatError

import numpy as np

from simhum_core.errors import DescriptionError

if TYPE_CHECKING:
    import mujoco
    import pinocchio

MOVING_JOINT_TYPES = ("revolute", "prismatic")
UNSUPPORTED_JOINT_TYPES = ("continuous", "floating", "planar")
MUJOCO_COMPILER = '<compiler fusestatic="false" discardvisual="false" strippath="false"/>'


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it holds arrays
class RobotDescription:
    """A robot's processed URDF with the facts SimHum needs from it.

    Joint arrays are in ``joint_names`` order, which is the URDF's depth-first order, the
    order pinocchio and MuJoCo both use.
    """

    source: Path
    urdf_xml: str
    name: str
    base_frame: str
    tool_frame: str
    joint_names: tuple[str, ...]
    arm_joint_names: tuple[str, ...]
    gripper_joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    # URDF <mimic> joints: name -> (the joint it follows, multiplier, offset); they have no
    # command of their own (joint = multiplier * followed + offset)
    mimic: Mapping[str, tuple[str, float, float]]

    @property
    def gripper_command_joint_names(self) -> tuple[str, ...]:
        """The gripper joints a gripper controller commands: the ones no mimic joint is."""
        return tuple(n for n in self.gripper_joint_names if n not in self.mimic)

    @cached_property
    def arm_index(self) -> np.ndarray:
        """Positions of the arm's joints in ``joint_names``."""
        return self.indices(self.arm_joint_names)

    @cached_property
    def gripper_command_index(self) -> np.ndarray:
        """Positions of the commanded gripper joints in ``joint_names``."""
        return self.indices(self.gripper_command_joint_names)

    @cached_property
    def _mimic_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(mimic joint, followed joint, multiplier, offset) arrays, in ``mimic`` order."""
        relations = self.mimic.values()
        return (
            self.indices(list(self.mimic)),
            self.indices([leader for leader, _, _ in relations]),
            np.array([multiplier for _, multiplier, _ in relations], dtype=np.float64),
            np.array([offset for _, _, offset in relations], dtype=np.float64),
        )

    def controller_targets(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full joint targets [K, dof] as the robot's controllers take them: the arm's
        trajectory points [K, arm joints] (joint_trajectory_controller) and the gripper's
        command (the first point's commanded gripper joints, for the forward position
        controller, which applies it at once)."""
        points = np.atleast_2d(points)
        return points[:, self.arm_index], points[0, self.gripper_command_index]

    def apply_mimic(self, q: np.ndarray) -> np.ndarray:
        """Joint vector(s) [..., dof] with every mimic joint set from the joint it follows."""
        out = np.array(q, dtype=np.float64)
        mimics, leaders, multipliers, offsets = self._mimic_rows
        out[..., mimics] = multipliers * out[..., leaders] + offsets
        return out

    @property
    def dof(self) -> int:
        """Number of moving joints (arm and gripper)."""
        return len(self.joint_names)

    def indices(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Positions of ``names`` in ``joint_names``; a clear error for an unknown joint."""
        unknown = [n for n in names if n not in self.joint_names]
        if unknown:
            raise DescriptionError(
                f"{self.source}: unknown joint(s) {unknown}; this robot has {self.joint_names}"
            )
        return np.array([self.joint_names.index(n) for n in names], dtype=np.int64)

    def clamp(self, q: np.ndarray) -> np.ndarray:
        """Clamp joint positions (full ``joint_names`` vector) to the URDF limits."""
        return np.clip(q, self.lower, self.upper)

    @cached_property
    def pinocchio_model(self) -> pinocchio.Model:
        """The pinocchio model built from the same URDF text."""
        import pinocchio

        return pinocchio.buildModelFromXML(self.urdf_xml)

    def mujoco_spec(self) -> mujoco.MjSpec:
        """A fresh MuJoCo spec of the robot alone (no world), for attaching into a scene."""
        import mujoco

        return mujoco.MjSpec.from_string(_with_mujoco_compiler(self.urdf_xml))

    def with_aperture(self, q: np.ndarray, aperture: float) -> np.ndarray:
        """``q`` with every commanded gripper joint at ``aperture`` (0 closed .. 1 open) of
        its range, and the mimic joints following them."""
        out = np.array(q, dtype=np.float64)
        idx = self.indices(self.gripper_command_joint_names)
        out[idx] = self.lower[idx] + float(np.clip(aperture, 0.0, 1.0)) * (
            self.upper[idx] - self.lower[idx]
        )
        return self.apply_mimic(out)

    def aperture(self, q: np.ndarray) -> float:
        """Mean normalised opening of the commanded gripper joints in ``q`` (0 with no
        gripper)."""
        idx = self.indices(self.gripper_command_joint_names)
        if len(idx) == 0:
            return 0.0
        span = self.upper[idx] - self.lower[idx]
        return float(np.mean((np.asarray(q)[idx] - self.lower[idx]) / span))

    def home(self) -> np.ndarray:
        """A neutral configuration: zero where the limits allow, else the range's middle."""
        mid = (self.lower + self.upper) / 2
        return np.where((self.lower <= 0) & (self.upper >= 0), 0.0, mid)


def load_robot(
    path: str | Path,
    tool_frame: str = "tcp",
    xacro_args: Mapping[str, str] | None = None,
) -> RobotDescription:
    """Read a ``.urdf`` or ``.urdf.xacro`` file and check it can serve as a SimHum robot."""
    path = Path(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: robot description not found (no such file)")
    xml = _process(path, dict(xacro_args or {}))
    return parse_robot(xml, tool_frame=tool_frame, source=path)


def parse_robot(xml: str, tool_frame: str, source: Path) -> RobotDescription:
    """Check a URDF text and extract joints, limits and frames from it."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise DescriptionError(f"{source}: malformed XML ({err})") from None
    if root.tag != "robot":
        raise DescriptionError(f"{source}: the root element is <{root.tag}>, not <robot>")

    links = [link.get("name") for link in root.findall("link")]
    joints = {j.get("name"): j for j in root.findall("joint")}
    if not links:
        raise DescriptionError(f"{source}: the URDF has no <link>")
    if tool_frame not in links:
        raise DescriptionError(
            f"{source}: tool frame '{tool_frame}' is not a link of robot "
            f"'{root.get('name')}'; its links are {links}. Set the tool_frame parameter."
        )
    for name, joint in joints.items():
        kind = joint.get("type")
        if kind in UNSUPPORTED_JOINT_TYPES:
            raise DescriptionError(
                f"{source}: joint '{name}' is {kind}; SimHum needs revolute or prismatic "
                "joints with <limit lower upper>"
            )
        if kind in MOVING_JOINT_TYPES:
            _check_limit(joint, name, source)
        for end in ("parent", "child"):
            element = joint.find(end)
            if element is None or element.get("link") not in links:
                raise DescriptionError(
                    f"{source}: joint '{name}' needs <{end} link=\"...\"/> naming one of its "
                    f"links {links}"
                )

    parent_of = {j.find("child").get("link"): j for j in joints.values()}
    roots = [link for link in links if link not in parent_of]
    if len(roots) != 1:
        raise DescriptionError(f"{source}: expected one root link, found {roots}")

    chain = []
    link = tool_frame
    while link in parent_of:
        joint = parent_of[link]
        if joint.get("type") in MOVING_JOINT_TYPES:
            chain.append(joint.get("name"))
        link = joint.find("parent").get("link")
    mimic = _mimic_joints(joints, chain, source)
    model = _pinocchio_model(xml, source)
    names = tuple(model.names[1:])
    arm = tuple(n for n in names if n in chain)
    if not arm:
        raise DescriptionError(
            f"{source}: no moving joint between '{roots[0]}' and tool frame '{tool_frame}'"
        )
    return RobotDescription(
        source=source,
        urdf_xml=xml,
        name=root.get("name", ""),
        base_frame=roots[0],
        tool_frame=tool_frame,
        joint_names=names,
        arm_joint_names=arm,
        gripper_joint_names=tuple(n for n in names if n not in chain),
        lower=np.array(model.lowerPositionLimit, dtype=np.float64),
        upper=np.array(model.upperPositionLimit, dtype=np.float64),
        velocity=np.array(model.velocityLimit, dtype=np.float64),
        effort=np.array(model.effortLimit, dtype=np.float64),
        mimic=mimic,
    )


def _mimic_joints(
    joints: dict[str, ET.Element], arm: list[str], source: Path
) -> dict[str, tuple[str, float, float]]:
    """The URDF's <mimic> relations, checked: a moving gripper joint following another
    moving joint that follows nothing (IK and the arm's controller take independent arm
    joints only)."""
    out = {}
    for name, joint in joints.items():
        element = joint.find("mimic")
        if element is None:
            continue
        leader = element.get("joint")
        try:
            multiplier = float(element.get("multiplier", "1"))
            offset = float(element.get("offset", "0"))
        except ValueError:
            raise DescriptionError(
                f"{source}: joint '{name}' has a non-numeric <mimic> multiplier or offset"
            ) from None
        moving = [n for n, j in joints.items() if j.get("type") in MOVING_JOINT_TYPES]
        if joint.get("type") not in MOVING_JOINT_TYPES or leader not in moving:
            raise DescriptionError(
                f"{source}: joint '{name}' mimics '{leader}'; a mimic joint and the joint it "
                f"follows must both be moving joints (revolute or prismatic) of {moving}"
            )
        if name in arm:
            raise DescriptionError(
                f"{source}: joint '{name}' between the base and the tool frame mimics "
                f"'{leader}'; SimHum supports mimic joints in the gripper only"
            )
        if joints[leader].find("mimic") is not None:
            raise DescriptionError(
                f"{source}: joint '{name}' mimics '{leader}', which is a mimic joint itself"
            )
        if not (np.isfinite(multiplier) and np.isfinite(offset)) or multiplier == 0:
            raise DescriptionError(
                f"{source}: joint '{name}' <mimic> needs a finite, non-zero multiplier and a "
                f"finite offset (got {multiplier}, {offset})"
            )
        out[name] = (leader, multiplier, offset)
    return out


def _process(path: Path, xacro_args: dict[str, str]) -> str:
    """Expand xacro (any ``*.xacro`` file); read plain URDF as it is."""
    if path.suffix != ".xacro":
        if xacro_args:
            raise DescriptionError(f"{path}: xacro arguments {xacro_args} given for a plain URDF")
        return path.read_text()
    import xacro

    try:
        return xacro.process_file(str(path), mappings=xacro_args).toxml()
    except ExpatError as err:
        raise DescriptionError(f"{path}: malformed XML ({err})") from None
    except xacro.XacroException as err:
        raise DescriptionError(f"{path}: xacro failed: {err}") from None


def _check_limit(joint: ET.Element, name: str, source: Path) -> None:
    limit = joint.find("limit")
    need = ("lower", "upper", "velocity", "effort")
    if limit is None or any(limit.get(k) is None for k in need):
        raise DescriptionError(
            f"{source}: joint '{name}' needs <limit lower upper velocity effort>"
        )
    try:
        lower, upper, velocity, effort = (float(limit.get(k)) for k in need)
    except ValueError:
        raise DescriptionError(f"{source}: joint '{name}' has a non-numeric limit") from None
    if not lower < upper or velocity <= 0 or effort <= 0:
        raise DescriptionError(
            f"{source}: joint '{name}' limits must have lower < upper and positive velocity "
            f"and effort (got {lower}, {upper}, {velocity}, {effort})"
        )


def _pinocchio_model(xml: str, source: Path) -> pinocchio.Model:
    import pinocchio

    try:
        return pinocchio.buildModelFromXML(xml)
    except (RuntimeError, ValueError) as err:
        raise DescriptionError(f"{source}: pinocchio cannot read it ({err})") from None


def _with_mujoco_compiler(xml: str) -> str:
    """Add MuJoCo's compiler tag when the URDF lacks one, so fixed links stay bodies."""
    if "<mujoco" in xml:
        return xml
    close = xml.find(">", xml.find("<robot"))
    return xml[: close + 1] + f"<mujoco>{MUJOCO_COMPILER}</mujoco>" + xml[close + 1 :]
