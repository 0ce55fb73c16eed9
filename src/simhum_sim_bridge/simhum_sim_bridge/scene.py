"""A MuJoCo scene: the shared URDF, a table, the task's objects, the calibrated camera, and
position actuators derived from the URDF limits. Deterministic for a given seed."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from simhum_core.calibration import CameraCalibration
from simhum_core.robot import RobotDescription
from simhum_sim_bridge.domains import Look, apply_look
from simhum_sim_bridge.tasks import Task

ROBOT_PREFIX = "robot/"
CAMERA = "camera"
TABLE_HALF = (0.6, 0.7, 0.02)
TABLE_CENTRE = (0.35, 0.0)
POSITION_ERROR_AT_FULL_EFFORT = 0.05  # rad (m): stiffness kp = effort / this
ARMATURE = 0.01


@dataclass(frozen=True)
class SceneConfig:
    """How a scene is simulated and seen."""

    physics_hz: float = 500.0
    image_width: int = 128
    image_height: int = 128

    def __post_init__(self) -> None:
        if self.physics_hz <= 0:
            raise ValueError(f"physics_hz must be positive, got {self.physics_hz}")
        if self.image_width <= 0 or self.image_height <= 0:
            raise ValueError(
                f"image size must be positive, got {self.image_width}x{self.image_height}"
            )


class Scene:
    """A compiled scene and its state, addressed by the URDF's joint names."""

    def __init__(
        self,
        robot: RobotDescription,
        camera: CameraCalibration,
        task: Task,
        look: Look,
        layout: dict[str, np.ndarray],
        config: SceneConfig,
    ) -> None:
        self.robot, self.task, self.look, self.layout, self.config = (
            robot,
            task,
            look,
            layout,
            config,
        )
        self.camera = camera.resized(config.image_width, config.image_height)
        self.spec = build_spec(robot, self.camera, task, look, layout, config)
        self.model = self.spec.compile()
        self.data = mujoco.MjData(self.model)
        joints = [self.model.joint(ROBOT_PREFIX + n) for n in robot.joint_names]
        self.qpos_adr = np.array([j.qposadr[0] for j in joints])
        self.qvel_adr = np.array([j.dofadr[0] for j in joints])
        self.robot_geoms = {
            g
            for g in range(self.model.ngeom)
            if self.model.body(self.model.geom_bodyid[g]).name.startswith(ROBOT_PREFIX)
        }

    @property
    def time(self) -> float:
        """Simulation time in seconds."""
        return float(self.data.time)

    def set_robot(self, q: np.ndarray) -> None:
        """Place the robot at ``q`` (at rest) with its actuators holding it there."""
        self.data.qpos[self.qpos_adr] = q
        self.data.qvel[self.qvel_adr] = 0.0
        self.data.ctrl[:] = q
        mujoco.mj_forward(self.model, self.data)

    def joint_positions(self) -> np.ndarray:
        """Measured joint positions in ``robot.joint_names`` order."""
        return self.data.qpos[self.qpos_adr].copy()

    def joint_velocities(self) -> np.ndarray:
        """Measured joint velocities in ``robot.joint_names`` order."""
        return self.data.qvel[self.qvel_adr].copy()

    def step(self, ctrl: np.ndarray) -> None:
        """One physics step with position targets ``ctrl`` (joint order)."""
        self.data.ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data)

    def object_position(self, name: str) -> np.ndarray:
        """World position of a task object's body."""
        return self.data.body(name).xpos.copy()

    def touching_robot(self, name: str) -> bool:
        """Whether any robot geom is in contact with the body ``name``."""
        body = self.model.body(name).id
        for contact in self.data.contact[: self.data.ncon]:
            pair = (int(contact.geom1), int(contact.geom2))
            bodies = {int(self.model.geom_bodyid[g]) for g in pair}
            if body in bodies and any(g in self.robot_geoms for g in pair):
                return True
        return False

    def success(self) -> bool:
        """The task's success check on the current state."""
        return self.task.success(self, self.layout)


def build_world(
    camera: CameraCalibration,
    task: Task,
    look: Look,
    layout: dict[str, np.ndarray],
    config: SceneConfig,
    name: str,
) -> mujoco.MjSpec:
    """Everything but the robot: physics options, table, look, calibrated camera, objects."""
    spec = mujoco.MjSpec()
    spec.modelname = name
    spec.option.timestep = 1.0 / config.physics_hz
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.visual.global_.offwidth = max(config.image_width, 640)
    spec.visual.global_.offheight = max(config.image_height, 480)
    spec.visual.quality.offsamples = 0  # multisampling costs most of a CPU render
    spec.visual.quality.shadowsize = 0
    table = spec.worldbody.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(TABLE_HALF),
        pos=[*TABLE_CENTRE, -TABLE_HALF[2]],
        friction=[look.friction_scale, 0.01, 0.001],
    )
    apply_look(spec, look, table)
    add_camera(spec, camera)
    task.add_objects(spec.worldbody, layout, look.object_rgba)
    return spec


def build_spec(
    robot: RobotDescription,
    camera: CameraCalibration,
    task: Task,
    look: Look,
    layout: dict[str, np.ndarray],
    config: SceneConfig,
) -> mujoco.MjSpec:
    """The robot scene's MjSpec: the world plus the robot attached from its URDF, with
    position actuators derived from the URDF limits."""
    spec = build_world(camera, task, look, layout, config, f"simhum_{task.name}_{look.domain}")
    arm = robot.mujoco_spec()
    for body in arm.bodies:
        body.gravcomp = 1.0  # the real arm's controller compensates gravity too
    for joint in arm.joints:
        joint.armature = ARMATURE
    spec.attach(arm, prefix=ROBOT_PREFIX, frame=spec.worldbody.add_frame(pos=[0, 0, 0]))
    for i, name in enumerate(robot.joint_names):
        actuator = spec.add_actuator(
            name=f"{ROBOT_PREFIX}{name}_position",
            target=ROBOT_PREFIX + name,
            trntype=mujoco.mjtTrn.mjTRN_JOINT,
        )
        kp = look.gain_scale * robot.effort[i] / POSITION_ERROR_AT_FULL_EFFORT
        actuator.set_to_position(kp=kp, dampratio=1.0)
        actuator.ctrlrange = [robot.lower[i], robot.upper[i]]
        actuator.ctrllimited = True
        actuator.forcerange = [-robot.effort[i], robot.effort[i]]
        actuator.forcelimited = True
    return spec


def add_camera(spec: mujoco.MjSpec, camera: CameraCalibration) -> None:
    """The calibrated camera: its pose in the base frame and its pinhole intrinsics."""
    # MuJoCo cameras look along -z with y up; the optical frame looks along +z with y down.
    R = camera.T_base_camera[:3, :3] @ np.diag([1.0, -1.0, -1.0])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, R.reshape(-1))
    pixel = 1e-5  # sensor pixel pitch (m); any value works, intrinsics are in pixels
    spec.worldbody.add_camera(
        name=CAMERA,
        pos=camera.T_base_camera[:3, 3].tolist(),
        quat=quat.tolist(),
        resolution=[camera.width, camera.height],
        sensor_size=[camera.width * pixel, camera.height * pixel],
        focal_pixel=[camera.K[0, 0], camera.K[1, 1]],
        principal_pixel=[
            camera.K[0, 2] - (camera.width - 1) / 2,
            (camera.height - 1) / 2 - camera.K[1, 2],
        ],
    )
