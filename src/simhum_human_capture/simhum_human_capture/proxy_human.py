"""The proxy-human source: a rendered articulated hand doing the scripted experts' tasks.

On machines with no camera and no person, this stands in for human demonstrations: a
skin-toned hand (palm, five three-bone fingers, forearm), no robot in view, seen by the
calibrated camera. People record anywhere, so by default each episode has its own
``human_wild`` look (table, background, lights, camera and clutter varied widely), with the
objects on the inner placement grid. The hand follows the expert's waypoint plan with
its pinch point where the robot's tool would be (so retargeting it gives the expert's tool
pose back); objects it pinches are carried kinematically. Episodes record its ground-truth
keypoints as the HandPose and the pinch pose as the EndEffectorTarget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import mujoco
import numpy as np

from simhum_core.calibration import CameraCalibration
from simhum_core.kinematics import tool_pose
from simhum_human_capture import hand_model
from simhum_sim_bridge.domains import Look
from simhum_sim_bridge.experts import WaypointPlan, plan_for, push_yaw
from simhum_sim_bridge.render import CameraRenderer, observe
from simhum_sim_bridge.rollout import SETTLE_S, EpisodeSpec, sample_episode
from simhum_sim_bridge.scene import CAMERA, build_world
from simhum_sim_bridge.tasks import Push, Task

HAND_PREFIX = "hand/"
SKIN = (0.87, 0.67, 0.55, 1.0)
SLEEVE = (0.2, 0.25, 0.4, 1.0)
BONE_RADIUS = 0.009
FOREARM = (0.22, 0.028)  # length, radius
PALM_HALF = (0.012, 0.038, 0.042)  # thickness, width, length (half sizes)
GRASP_APERTURE = 0.35  # below this the hand holds what it pinches
GRASP_REACH = 0.035  # metres from the pinch point to an object's centre
HAND_HZ = 100.0  # how often the kinematic hand is re-posed


def _align_z(direction: np.ndarray) -> np.ndarray:
    """Quaternion (w, x, y, z) turning +z onto ``direction``."""
    quat = np.zeros(4)
    mujoco.mju_quatZ2Vec(quat, direction / np.linalg.norm(direction))
    return quat


def _matrix_quat(R: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(R).reshape(-1))
    return quat


class HandScene:
    """A robot-free scene with the articulated hand as mocap bodies, stepped like Scene."""

    def __init__(
        self,
        camera: CameraCalibration,
        task: Task,
        look: Look,
        layout: dict[str, np.ndarray],
        spec: EpisodeSpec,
    ) -> None:
        self.task, self.look, self.layout = task, look, layout
        self.camera = camera.resized(spec.scene.image_width, spec.scene.image_height)
        mj = build_world(
            self.camera, task, look, layout, spec.scene, f"simhum_{task.name}_{look.domain}_hand"
        )
        rest = hand_model.keypoints_in_hand(1.0)
        self.bones = [b for b in hand_model.BONES if b[0] != hand_model.WRIST]
        for a, b in self.bones:
            body = mj.worldbody.add_body(name=f"{HAND_PREFIX}bone{a}_{b}", mocap=True)
            length = float(np.linalg.norm(rest[b] - rest[a]))
            body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_CAPSULE,
                fromto=[0, 0, 0, 0, 0, length],
                size=[BONE_RADIUS, 0, 0],
                rgba=list(SKIN),
            )
        palm = mj.worldbody.add_body(name=f"{HAND_PREFIX}palm", mocap=True)
        palm.add_geom(
            type=mujoco.mjtGeom.mjGEOM_ELLIPSOID,
            size=list(PALM_HALF),
            pos=[0, 0, PALM_HALF[2] + 0.01],
            rgba=list(SKIN),
        )
        palm.add_geom(
            type=mujoco.mjtGeom.mjGEOM_CAPSULE,
            size=[FOREARM[1], 0, 0],
            fromto=[0, 0, -0.01, 0, 0, -FOREARM[0]],
            rgba=list(SLEEVE),
        )
        self.model = mj.compile()
        self.data = mujoco.MjData(self.model)
        self.mocap = [
            self.model.body(f"{HAND_PREFIX}bone{a}_{b}").mocapid[0] for a, b in self.bones
        ]
        self.palm = self.model.body(f"{HAND_PREFIX}palm").mocapid[0]
        self.hand_geoms = {
            g
            for g in range(self.model.ngeom)
            if self.model.body(self.model.geom_bodyid[g]).name.startswith(HAND_PREFIX)
        }
        bodies = {self.model.body(i).name: i for i in range(self.model.nbody)}
        self.movable = [n for n in layout if n in bodies and self.model.body(n).jntnum[0]]
        self.held: tuple[str, np.ndarray] | None = None

    def set_hand(self, T_world_hand: np.ndarray, aperture: float) -> np.ndarray:
        """Pose the hand; returns its 21 keypoints in the world (robot base) frame."""
        kp = hand_model.keypoints(T_world_hand, aperture)
        for mocap, (a, b) in zip(self.mocap, self.bones, strict=True):
            self.data.mocap_pos[mocap] = kp[a]
            self.data.mocap_quat[mocap] = _align_z(kp[b] - kp[a])
        self.data.mocap_pos[self.palm] = T_world_hand[:3, 3]
        self.data.mocap_quat[self.palm] = _matrix_quat(T_world_hand[:3, :3])
        return kp

    def carry(self, pinch: np.ndarray, aperture: float) -> None:
        """Pick up, carry or drop the object at the pinch point."""
        if self.held is None and aperture < GRASP_APERTURE:
            for name in self.movable:
                position = self.data.body(name).xpos
                if np.linalg.norm(position - pinch) < GRASP_REACH:
                    self.held = (name, position - pinch)
                    break
        elif self.held is not None and aperture >= GRASP_APERTURE:
            self.held = None
        if self.held is not None:
            name, offset = self.held
            joint = self.model.body(name).jntadr[0]
            adr, dof = self.model.jnt_qposadr[joint], self.model.jnt_dofadr[joint]
            self.data.qpos[adr : adr + 3] = pinch + offset
            self.data.qvel[dof : dof + 6] = 0.0

    def object_position(self, name: str) -> np.ndarray:
        """World position of a task object."""
        return self.data.body(name).xpos.copy()

    def touching_robot(self, name: str) -> bool:
        """Whether the hand (the embodiment here) touches the object, or still holds it."""
        if self.held is not None and self.held[0] == name:
            return True
        body = self.model.body(name).id
        for contact in self.data.contact[: self.data.ncon]:
            pair = (int(contact.geom1), int(contact.geom2))
            if body in {int(self.model.geom_bodyid[g]) for g in pair} and (
                pair[0] in self.hand_geoms or pair[1] in self.hand_geoms
            ):
                return True
        return False


def hand_plan(task: Task, layout: dict[str, np.ndarray]) -> WaypointPlan:
    """The expert's plan as the hand does it. The push expert folds its yaw into
    [-pi/2, pi/2), which is the same pose for the gripper's symmetric fingers but turns the
    hand around: it would lead with its knuckles, landing on the block from behind. The hand
    pushes fingertips first, with the yaw unfolded, and turns the short way round from its
    start, as a wrist does (never more than half a turn)."""
    plan = plan_for(task, layout)
    if not isinstance(task, Push):
        return plan
    start = plan.points[0].yaw
    turn = (push_yaw(layout["block"], layout["target"]) - start + np.pi) % (2 * np.pi) - np.pi
    return WaypointPlan(plan.points[0], [replace(w, yaw=start + turn) for w in plan.points[1:]])


def hand_pose_for_tool(T_tool: np.ndarray, aperture: float) -> np.ndarray:
    """The hand pose whose pinch point and palm frame are the tool pose ``T_tool``."""
    T_hand = T_tool.copy()
    T_hand[:3, 3] = T_tool[:3, 3] - T_tool[:3, :3] @ hand_model.grasp_point_in_hand(aperture)
    return T_hand


@dataclass(frozen=True)
class HumanEpisodeResult:
    """How a proxy-human episode ended."""

    success: bool
    duration_s: float
    frames: int


def make_hand_scene(camera: CameraCalibration, spec: EpisodeSpec) -> HandScene:
    """The scene of a proxy-human episode: the same layout as the robot's for that seed."""
    task, look, layout = sample_episode(spec)
    return HandScene(camera, task, look, layout, spec)


def run_human_episode(
    camera: CameraCalibration, spec: EpisodeSpec, sink=None, render: bool = True
) -> HumanEpisodeResult:
    """Simulate one proxy-human episode; ``sink`` receives image, hand_pose and
    end_effector_target streams (EpisodeBagWriter's interface)."""
    scene = make_hand_scene(camera, spec)
    plan = hand_plan(scene.task, scene.layout)
    dt = scene.model.opt.timestep
    per_frame = round(1.0 / (spec.control_hz * dt))
    per_hand = max(1, round(1.0 / (HAND_HZ * dt)))
    steps = int(np.ceil(min(plan.duration + SETTLE_S, scene.task.duration_s) / dt))
    noise = np.random.default_rng([spec.seed, 2000])
    renderer = (
        CameraRenderer(scene.model, CAMERA, scene.camera.width, scene.camera.height)
        if render and sink is not None
        else None
    )
    T_camera_base = np.linalg.inv(scene.camera.T_base_camera)
    frames = 0
    try:
        for step in range(steps):
            t = step * dt
            if step % per_hand == 0:
                position, yaw, aperture = plan.at(t)
                T_tool = tool_pose(position, yaw)
                keypoints = scene.set_hand(hand_pose_for_tool(T_tool, aperture), aperture)
            scene.carry(T_tool[:3, 3], aperture)
            if sink is not None and step % per_frame == 0:
                mujoco.mj_forward(scene.model, scene.data)  # the hand (and camera) as just posed
                in_camera = keypoints @ T_camera_base[:3, :3].T + T_camera_base[:3, 3]
                if renderer is not None:
                    sink.image(t, observe(renderer, scene.data, scene.look, noise))
                    frames += 1
                sink.hand_pose(
                    t,
                    scene.camera.project(in_camera),
                    in_camera,
                    np.ones(21),
                    "proxy_ground_truth",
                )
                sink.end_effector_target(t, T_tool, aperture)
            mujoco.mj_step(scene.model, scene.data)
        success = scene.task.success(scene, scene.layout)
    finally:
        if renderer is not None:
            renderer.close()
    return HumanEpisodeResult(bool(success), steps * dt, frames)


def human_episode(robot, camera: CameraCalibration, spec: EpisodeSpec, writer) -> bool:
    """A proxy-human episode streamed into an EpisodeBagWriter; returns its success (the
    generator's episode-runner interface; the robot only names the base frame)."""
    del robot
    return run_human_episode(camera, spec, sink=writer).success


def main(argv: list[str] | None = None) -> int:
    """``simhum_generate_human``: proxy-human episodes, by default in the human_wild look."""
    from simhum_sim_bridge.generate import Source, generate

    source = Source("human", "simhum_human_capture.proxy_human:human_episode")
    description = "Proxy-human demonstrations as rosbag2 episodes."
    return generate(argv, source, description, ["human_wild"])


if __name__ == "__main__":
    raise SystemExit(main())
