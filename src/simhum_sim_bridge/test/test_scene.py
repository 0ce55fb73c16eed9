"""Scenes: the shared URDF, the calibrated camera, determinism, domains, a second robot."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from simhum_description import load_robot
from simhum_description.kinematics import pinocchio_tool_pose
from simhum_description.synthetic import serial_arm_urdf
from simhum_sim_bridge.domains import DOMAINS, sample_look
from simhum_sim_bridge.grid import PlacementGrid
from simhum_sim_bridge.render import CameraRenderer, observe
from simhum_sim_bridge.rollout import EpisodeSpec, make_scene, ready_pose
from simhum_sim_bridge.scene import CAMERA, ROBOT_PREFIX, Scene, SceneConfig
from simhum_sim_bridge.tasks import get_task


def test_camera_matches_calibration(robot, camera) -> None:
    """The cube's rendered centroid lands where the calibration projects its centre."""
    for width, height in [(128, 128), (640, 480)]:
        spec = EpisodeSpec(
            "pick_place", "sim", 3, scene=SceneConfig(image_width=width, image_height=height)
        )
        scene = make_scene(robot, camera, spec)
        mujoco.mj_forward(scene.model, scene.data)
        renderer = mujoco.Renderer(scene.model, height, width)
        renderer.enable_segmentation_rendering()
        renderer.update_scene(scene.data, camera=CAMERA)
        seg = renderer.render()
        renderer.close()
        geom = scene.model.geom("cube_geom").id
        rows, cols = np.nonzero((seg[..., 0] == geom) & (seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM))
        centre = (
            np.linalg.inv(scene.camera.T_base_camera) @ np.r_[scene.object_position("cube"), 1]
        )
        expected = scene.camera.project(centre[None, :3])[0]
        assert len(cols) > 4
        assert np.hypot(cols.mean() - expected[0], rows.mean() - expected[1]) < 0.02 * width


def test_scene_is_deterministic_for_a_seed(robot, camera) -> None:
    a = make_scene(robot, camera, EpisodeSpec("stack", "real", 11))
    b = make_scene(robot, camera, EpisodeSpec("stack", "real", 11))
    c = make_scene(robot, camera, EpisodeSpec("stack", "real", 12))
    assert a.spec.to_xml() == b.spec.to_xml()
    assert a.spec.to_xml() != c.spec.to_xml()
    # the layout depends on (seed, task) only: the same across domains
    sim = make_scene(robot, camera, EpisodeSpec("stack", "sim", 11))
    assert all(np.array_equal(sim.layout[k], a.layout[k]) for k in a.layout)


def test_actuators_come_from_urdf_limits(robot, camera) -> None:
    scene = make_scene(robot, camera, EpisodeSpec("push", "sim", 0))
    assert scene.model.nu == robot.dof
    np.testing.assert_allclose(scene.model.actuator_ctrlrange[:, 0], robot.lower)
    np.testing.assert_allclose(scene.model.actuator_ctrlrange[:, 1], robot.upper)
    np.testing.assert_allclose(scene.model.actuator_forcerange[:, 1], robot.effort)


def test_position_control_tracks_and_is_stable(robot, camera) -> None:
    scene = make_scene(robot, camera, EpisodeSpec("push", "sim", 0))
    q = ready_pose(robot)
    scene.set_robot(q)
    target = q.copy()
    target[robot.indices(robot.arm_joint_names)] += 0.2
    for _ in range(1000):  # 2 s
        scene.step(target)
    assert np.abs(scene.joint_positions() - target).max() < 0.01
    assert np.all(np.isfinite(scene.data.qpos))
    tool = scene.data.body(ROBOT_PREFIX + robot.tool_frame).xpos
    np.testing.assert_allclose(
        tool, pinocchio_tool_pose(robot, scene.joint_positions())[:3, 3], atol=1e-9
    )


def test_grid_holds_out_the_outer_ring() -> None:
    grid = PlacementGrid()
    inner, outer = grid.centres("in"), grid.centres("out")
    assert len(inner) + len(outer) == grid.cells**2
    assert inner[:, 0].min() > outer[:, 0].min() and inner[:, 1].max() < outer[:, 1].max()
    rng = np.random.default_rng(0)
    picks = grid.sample(rng, 2, "out", min_distance=0.1)
    assert np.linalg.norm(picks[0] - picks[1]) >= 0.1
    with pytest.raises(ValueError, match="unknown placement split"):
        grid.centres("middle")


def test_domains_look_different(robot, camera) -> None:
    images = {}
    for domain in DOMAINS:
        scene = make_scene(robot, camera, EpisodeSpec("pick_place", domain, 4))
        scene.set_robot(ready_pose(robot))
        with CameraRenderer(scene.model, CAMERA, 128, 128) as renderer:
            images[domain] = observe(renderer, scene.data, scene.look, np.random.default_rng(0))
    for domain in DOMAINS[1:]:
        diff = np.abs(images[domain].astype(int) - images["sim"].astype(int)).mean()
        assert diff > 5, domain
    look = sample_look("real", np.random.default_rng(1))
    assert look.pixel_noise > 0 and look.latency_steps > 0 and look.friction_scale != 1.0
    assert sample_look("real_ood_distractors", np.random.default_rng(1)).distractors
    with pytest.raises(ValueError, match="unknown domain"):
        sample_look("cartoon", np.random.default_rng(0))


def test_second_robot_scene_runs(camera, tmp_path: Path) -> None:
    """A generated 7-DoF arm with other joint and frame names builds and simulates."""
    path = tmp_path / "seven.urdf"
    path.write_text(serial_arm_urdf(7, seed=3, prefix="axis_", tool_frame="tool0"))
    other = load_robot(path, tool_frame="tool0")
    task = get_task("pick_place")
    rng = np.random.default_rng(0)
    layout = task.sample_layout(rng, PlacementGrid(), "in")
    scene = Scene(other, camera, task, sample_look("real", rng), layout, SceneConfig())
    assert scene.model.nu == 8
    q = other.home()
    scene.set_robot(q)
    for _ in range(500):
        scene.step(q)
    assert np.all(np.isfinite(scene.data.qpos))
    assert np.abs(scene.joint_positions() - q).max() < 0.05
    with CameraRenderer(scene.model, CAMERA, 64, 64) as renderer:
        assert renderer.render(scene.data).shape == (64, 64, 3)
