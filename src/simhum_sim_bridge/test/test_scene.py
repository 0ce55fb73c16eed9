"""Scenes: the shared URDF, the calibrated camera, determinism, domains, a second robot."""

from __future__ import annotations

import colorsys
from pathlib import Path

import mujoco
import numpy as np
import pytest

from simhum_core import load_robot
from simhum_core.kinematics import pinocchio_tool_pose
from simhum_core.synthetic import serial_arm_urdf
from simhum_sim_bridge.domains import (
    AMBIENT,
    CLUTTER_SHAPES,
    DISTRACTOR_SHAPES,
    DOMAINS,
    HEADLIGHT,
    LAB_AMBIENT,
    LAB_LIGHTS,
    LAB_TABLE_RGB,
    LIGHT,
    MAX_LIGHT_TINT,
    MUTED_SATURATION,
    OOD_DOMAINS,
    TASK_RGB,
    TRAINING_DOMAINS,
    VIVID_SATURATION,
    WHITE_BALANCE,
    Look,
    sample_look,
    saturation,
)
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
    # the layout depends on (seed, task, split) only: the same across domains
    for domain in ("sim", "human_wild", "real_ood_distractors"):
        other = make_scene(robot, camera, EpisodeSpec("stack", domain, 11))
        assert all(np.array_equal(other.layout[k], a.layout[k]) for k in a.layout), domain
    wide = make_scene(robot, camera, EpisodeSpec("stack", "sim", 11, split="all"))
    assert any(not np.array_equal(wide.layout[k], a.layout[k]) for k in a.layout)


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


def visible_pixels(scene: Scene, prefix: str) -> int:
    """How many camera pixels show geoms of bodies whose name starts with ``prefix``."""
    renderer = mujoco.Renderer(scene.model, 96, 128)
    renderer.enable_segmentation_rendering()
    renderer.update_scene(scene.data, camera=CAMERA)
    seg = renderer.render()
    renderer.close()
    geoms = [
        g
        for g in range(scene.model.ngeom)
        if scene.model.body(scene.model.geom_bodyid[g]).name.startswith(prefix)
    ]
    shown = np.isin(seg[..., 0], geoms) & (seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM)
    return int(shown.sum())


def test_domains_look_different(robot, camera) -> None:
    images, scenes = {}, {}
    for domain in DOMAINS:
        scene = make_scene(robot, camera, EpisodeSpec("pick_place", domain, 4))
        scene.set_robot(ready_pose(robot))
        with CameraRenderer(scene.model, CAMERA, 128, 128) as renderer:
            images[domain] = observe(renderer, scene.data, scene.look, np.random.default_rng(0))
        scenes[domain] = scene
    for domain in DOMAINS[1:]:
        diff = np.abs(images[domain].astype(int) - images["sim"].astype(int)).mean()
        assert diff > 5, domain
    # each unseen variant really changes the lab's picture
    for domain in ("real_ood_background", "real_ood_lighting"):
        diff = np.abs(images[domain].astype(int) - images["real"].astype(int)).mean()
        assert diff > 20, domain
    assert visible_pixels(scenes["real_ood_distractors"], "distractor") > 10
    assert visible_pixels(scenes["human_wild"], "clutter") > 10
    assert visible_pixels(scenes["real"], "clutter") == 0
    with pytest.raises(ValueError, match="unknown domain"):
        sample_look("cartoon", np.random.default_rng(0))


def looks(domain: str, count: int = 300) -> list[Look]:
    """``count`` looks of ``domain``, one per seed."""
    return [sample_look(domain, np.random.default_rng([seed, 77])) for seed in range(count)]


def light_level(look: Look) -> float:
    """Ambient plus headlight plus the directional lights' summed mean diffuse."""
    return look.ambient + look.headlight + sum(float(np.mean(d)) for _, d in look.lights)


def test_each_source_has_its_look_family() -> None:
    """sim: flat and noise-free, varied colours; human_wild: widely varied with clutter;
    real: one lab with small jitter, camera noise and dynamics differences."""
    sim, wild, lab = looks("sim"), looks("human_wild"), looks("real")
    for look in sim:
        assert {look.table.builtin, look.table.mark, look.background.mark} == {"flat", "none"}
        assert look.pixel_noise == 0 and look.colour_gain == (1.0, 1.0, 1.0)
        assert (look.friction_scale, look.gain_scale, look.latency_steps) == (1.0, 1.0, 0)
        assert not look.clutter
    assert np.ptp([lk.table.rgb1 for lk in sim], axis=0).min() > 0.3
    assert np.ptp([light_level(lk) for lk in sim]) > 0.4
    values = [colorsys.rgb_to_hsv(*lk.table.rgb1)[2] for lk in wild]
    assert max(values) - min(values) > 0.5
    assert {lk.table.mark for lk in wild} == {"none", "random", "edge"}
    assert all(2 <= len(lk.clutter) <= 6 and lk.pixel_noise > 0 for lk in wild)
    assert np.ptp([lk.lights[0][0][:2] for lk in wild], axis=0).min() > 1.0  # from all around
    for look in lab:
        np.testing.assert_allclose(look.table.rgb1, LAB_TABLE_RGB, atol=0.016)
        assert len(look.lights) == len(LAB_LIGHTS) and not look.clutter
        assert abs(look.ambient - LAB_AMBIENT) <= 0.02 and look.pixel_noise >= 2
        assert look.latency_steps > 0
    assert np.std([lk.friction_scale for lk in lab]) > 0.05


def test_ood_looks_are_held_out_of_every_training_look() -> None:
    """Many looks of every training family fall outside every unseen set (background
    colours and textures, distractors, lighting); every unseen look falls inside its set."""
    assert not set(CLUTTER_SHAPES) & set(DISTRACTOR_SHAPES)
    levels = []
    for domain in TRAINING_DOMAINS:
        for look in looks(domain):
            surfaces = (look.table, look.background)
            assert all(s.builtin != "checker" for s in surfaces), domain
            colours = [c for s in surfaces for c in s.colours()] + [p.rgb for p in look.clutter]
            assert max(saturation(c) for c in colours) <= MUTED_SATURATION, domain
            assert not look.distractors and {p.shape for p in look.clutter} <= set(CLUTTER_SHAPES)
            assert AMBIENT[0] <= look.ambient <= AMBIENT[1], domain
            assert HEADLIGHT[0] <= look.headlight <= HEADLIGHT[1], domain
            assert LIGHT[0] <= light_level(look) - look.ambient - look.headlight <= LIGHT[1]
            assert all((max(d) - min(d)) / max(d) <= MAX_LIGHT_TINT for _, d in look.lights)
            assert np.abs(np.subtract(look.colour_gain, 1.0)).max() <= WHITE_BALANCE
            # the task objects keep their colours: only the shade changes
            for name, rgb in TASK_RGB.items():
                shown = colorsys.rgb_to_hsv(*look.object_rgba[name][:3])
                hue, sat, _ = colorsys.rgb_to_hsv(*rgb)
                assert abs(shown[0] - hue) < 0.02 and abs(shown[1] - sat) < 0.05, (domain, name)
            levels.append(light_level(look))
    for look in looks("real_ood_background", 100):
        assert {look.table.builtin, look.background.builtin} == {"checker"}
        colours = look.table.colours() + look.background.colours()
        assert min(saturation(c) for c in colours) >= VIVID_SATURATION
    for look in looks("real_ood_distractors", 100):
        assert 2 <= len(look.distractors) and not look.clutter
        assert {p.shape for p in look.distractors} <= set(DISTRACTOR_SHAPES)
        assert min(saturation(p.rgb) for p in look.distractors) >= VIVID_SATURATION
    for look in looks("real_ood_lighting", 100):
        assert not AMBIENT[0] <= look.ambient <= AMBIENT[1]
        assert not HEADLIGHT[0] <= look.headlight <= HEADLIGHT[1]
        level = light_level(look)
        assert level < min(levels) or (level > max(levels) and min(look.colour_gain) > 1.4)
    # apart from what they add, the unseen variants are the lab
    for domain in OOD_DOMAINS[1:]:
        for look in looks(domain, 20):
            np.testing.assert_allclose(look.table.rgb1, LAB_TABLE_RGB, atol=0.016)


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
