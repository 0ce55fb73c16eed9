"""Forward kinematics of the tool frame in pinocchio and in MuJoCo, from the same URDF."""

from __future__ import annotations

import numpy as np

from simhum_description.robot import RobotDescription


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
