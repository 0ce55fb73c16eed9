"""Forward kinematics of the tool frame in pinocchio and in MuJoCo, from the same URDF."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhum_core.robot import RobotDescription


def pinocchio_tool_pose(robot: RobotDescription, q: np.ndarray) -> np.ndarray:
    """4x4 pose of the tool frame in the base frame for joint positions ``q`` (pinocchio)."""
    import pinocchio

    model = robot.pinocchio_model
    data = model.createData()
    frame = model.getFrameId(robot.tool_frame)
    pinocchio.framesForwardKinematics(model, data, q)
    return data.oMf[frame].homogeneous


def max_fk_disagreement(robot: RobotDescription, samples: int, seed: int) -> float:
    """Largest difference between MuJoCo's and pinocchio's tool-frame pose (position in
    metres, rotation-matrix entries) over ``samples`` random joint configurations."""
    import mujoco

    model = robot.mujoco_spec().compile()
    data = mujoco.MjData(model)
    body = model.body(robot.tool_frame).id
    qpos_adr = np.array([model.joint(n).qposadr[0] for n in robot.joint_names])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(samples):
        q = rng.uniform(robot.lower, robot.upper)
        data.qpos[qpos_adr] = q
        mujoco.mj_kinematics(model, data)
        T = pinocchio_tool_pose(robot, q)
        worst = max(
            worst,
            float(np.abs(T[:3, 3] - data.xpos[body]).max()),
            float(np.abs(T[:3, :3] - data.xmat[body].reshape(3, 3)).max()),
        )
    return worst


READY_POSITION = np.array([0.40, 0.0, 0.25])  # tool above the middle of the workspace


def top_down(yaw: float) -> np.ndarray:
    """Tool orientation pointing down (tool z = -world z), turned by ``yaw`` about world z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([-1.0, 1.0, -1.0])


def tool_pose(position: np.ndarray, yaw: float) -> np.ndarray:
    """4x4 top-down tool pose."""
    pose = np.eye(4)
    pose[:3, :3] = top_down(yaw)
    pose[:3, 3] = position
    return pose


def start_configuration(robot: RobotDescription) -> np.ndarray:
    """Where every episode starts, in simulation and on the robot: the tool pointing down
    above the middle of the workspace, gripper open (IK from the URDF, deterministic)."""
    result = IKSolver(robot).solve_with_restarts(tool_pose(READY_POSITION, 0.0), robot.home())
    if not result.converged:
        raise ValueError(
            f"{robot.source}: the tool frame '{robot.tool_frame}' cannot reach the start pose "
            f"{READY_POSITION.tolist()} pointing down"
        )
    return robot.with_aperture(result.q, 1.0)


def start_pose_duration(q: np.ndarray, goal: np.ndarray, speed: float) -> float:
    """Seconds for a straight joint-space move from ``q`` to ``goal`` in which no joint is
    faster than ``speed`` (rad/s, or m/s for prismatic joints); at least 2 s."""
    if not speed > 0:
        raise ValueError(f"start-pose speed must be positive, got {speed}")
    return max(2.0, float(np.abs(np.asarray(goal) - np.asarray(q)).max()) / speed)


@dataclass(frozen=True)
class IKResult:
    """Joint positions (full ``joint_names`` vector) reaching a tool pose, and how well."""

    q: np.ndarray
    converged: bool
    position_error: float  # metres
    rotation_error: float  # radians
    iterations: int


class IKSolver:
    """Damped least-squares IK on the log6 error of the tool frame, moving only the arm
    joints and clamping to the URDF limits; warm-started from the configuration given."""

    def __init__(
        self,
        robot: RobotDescription,
        damping: float = 1e-4,
        max_iterations: int = 200,
        position_tolerance: float = 1e-4,
        rotation_tolerance: float = 1e-3,
    ) -> None:
        self.robot = robot
        self.model = robot.pinocchio_model
        self.data = self.model.createData()
        self.frame = self.model.getFrameId(robot.tool_frame)
        self.arm = robot.arm_index
        self.damping = damping
        self.max_iterations = max_iterations
        self.position_tolerance = position_tolerance
        self.rotation_tolerance = rotation_tolerance

    def forward(self, q: np.ndarray) -> np.ndarray:
        """4x4 tool pose in the base frame."""
        import pinocchio

        pinocchio.framesForwardKinematics(self.model, self.data, q)
        return self.data.oMf[self.frame].homogeneous.copy()

    def solve(self, target: np.ndarray, q0: np.ndarray) -> IKResult:
        """Joint positions whose tool pose is ``target`` (4x4), starting from ``q0``."""
        import pinocchio

        goal = pinocchio.SE3(target[:3, :3], target[:3, 3])
        q = self.robot.clamp(np.asarray(q0, dtype=np.float64).copy())
        eye = np.eye(6)
        for iteration in range(1, self.max_iterations + 1):
            pinocchio.framesForwardKinematics(self.model, self.data, q)
            error_pose = self.data.oMf[self.frame].actInv(goal)
            err = pinocchio.log6(error_pose).vector
            pos_err, rot_err = np.linalg.norm(err[:3]), np.linalg.norm(err[3:])
            if pos_err < self.position_tolerance and rot_err < self.rotation_tolerance:
                return IKResult(q, True, float(pos_err), float(rot_err), iteration)
            J = pinocchio.computeFrameJacobian(self.model, self.data, q, self.frame)
            J = pinocchio.Jlog6(error_pose) @ J[:, self.arm]
            dq = J.T @ np.linalg.solve(J @ J.T + self.damping * eye, err)
            q[self.arm] += np.clip(dq, -0.5, 0.5)  # a bounded step keeps the log map sane
            q = self.robot.clamp(q)
        return IKResult(q, False, float(pos_err), float(rot_err), self.max_iterations)

    def solve_with_restarts(
        self, target: np.ndarray, q0: np.ndarray, attempts: int = 32, seed: int = 0
    ) -> IKResult:
        """Like ``solve``, retrying from deterministic random starts when the warm start
        stalls (e.g. a target 180 degrees from the current orientation); of the converged
        solutions, the one closest to ``q0``."""
        rng = np.random.default_rng(seed)
        best = self.solve(target, q0)
        if best.converged:
            return best
        for attempt in range(attempts):
            # alternate starts near q0 (to stay in its branch) and anywhere in the limits
            start = q0 + rng.normal(0.0, 1.0, q0.shape) if attempt % 2 == 0 else q0.copy()
            if attempt % 2:
                start[self.arm] = rng.uniform(self.robot.lower, self.robot.upper)[self.arm]
            start = self.robot.clamp(start)
            result = self.solve(target, start)
            if result.converged and (
                not best.converged or np.linalg.norm(result.q - q0) < np.linalg.norm(best.q - q0)
            ):
                best = result
        return best


ROBOT_STATE_NAMES = ("position", "rot6d", "gripper", "joints")


def robot_state(robot: RobotDescription, q: np.ndarray, solver: IKSolver | None = None) -> dict:
    """The robot's state quantities for joint positions ``q``: tool position (3) and 6D
    rotation (6) in the base frame, gripper aperture (1), joint positions (n)."""
    from simhum_core.pose_math import rot6d_from_matrix

    pose = (solver or IKSolver(robot)).forward(q)
    return {
        "position": pose[:3, 3],
        "rot6d": rot6d_from_matrix(pose[:3, :3]),
        "gripper": np.array([robot.aperture(q)]),
        "joints": np.asarray(q, dtype=np.float64),
    }
