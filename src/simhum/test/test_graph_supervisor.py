"""The graph declaration (both modes) and the supervisor that brings it up without launch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from toy_policy import write_toy_policy

from simhum.cli import main
from simhum.graph import MODES, Bringup, NodeDecl, declare_graph, rviz_config
from simhum.supervisor import Supervisor, SupervisorError
from simhum_core.calibration import load_calibration
from simhum_core.paths import default_calibration, share_dir
from simhum_core.pose_math import matrix_from_quaternion
from simhum_core.topics import load_topics
from simhum_policy_node.intent_msgs import NAMESPACE

# The ROS 2 nodes that only help people see (package -> executable), not installed here.
VIEWERS = {
    "robot_state_publisher": "robot_state_publisher",
    "tf2_ros": "static_transform_publisher",
    "rviz2": "rviz2",
}


@pytest.fixture
def viewers_installed(tmp_path_factory, monkeypatch) -> Path:
    """An ament prefix holding executables for VIEWERS (scripts that do nothing), as an apt
    install of them lays it out, put first on AMENT_PREFIX_PATH."""
    prefix = tmp_path_factory.mktemp("ros_viewers")
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    for package, executable in VIEWERS.items():
        (index / package).touch()
        (prefix / "lib" / package).mkdir(parents=True)
        (prefix / "lib" / package / executable).write_text("#!/bin/sh\n")
        (prefix / "lib" / package / executable).chmod(0o755)
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{prefix}:{os.environ['AMENT_PREFIX_PATH']}")
    return prefix


@pytest.fixture
def no_viewers(tmp_path_factory, monkeypatch) -> None:
    """An ament index without VIEWERS' executables (as on this machine, also where ROS 2 is
    installed): rviz2 registered without its executable, the others not at all."""
    prefix = tmp_path_factory.mktemp("bare_prefix")
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "rviz2").touch()
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))


def test_sim_graph(tmp_path, no_viewers) -> None:
    nodes = declare_graph(Bringup(mode="sim", record=True, record_dir=str(tmp_path)))
    names = [n.name for n in nodes]
    assert names == ["simhum_sim_bridge", "simhum_recorder"]
    bridge = nodes[0]
    assert bridge.parameters["domain"] == "real" and bridge.parameters["image_width"] == 128
    assert bridge.parameters["split"] == "in"
    held_out = declare_graph(Bringup(mode="sim", split="out"))[0]
    assert held_out.parameters["split"] == "out"  # split:=out reaches the bridge
    assert all(n.module for n in nodes)  # all runnable here


def test_real_graph_declares_ros2_control(tmp_path) -> None:
    nodes = declare_graph(Bringup(mode="real", camera="0", run_dir=str(tmp_path)))
    by_name = {n.name: n for n in nodes}
    assert {
        "robot_state_publisher",
        "controller_manager",
        "spawner_joint_state_broadcaster",
        "spawner_joint_trajectory_controller",
        "simhum_camera",
        "simhum_start_pose",
    } <= set(by_name)
    assert "<ros2_control" in by_name["robot_state_publisher"].parameters["robot_description"]
    # Jazzy's controller manager reads the URDF from robot_state_publisher's topic
    manager = by_name["controller_manager"]
    assert "robot_description" not in manager.parameters
    assert manager.remappings == (("~/robot_description", "/robot_description"),)
    assert by_name["simhum_start_pose"].after == "spawner_joint_trajectory_controller"
    # the camera's optical frame on TF, from the one calibration file
    args = by_name["camera_tf"].arguments
    value = {args[i]: args[i + 1] for i in range(0, len(args), 2)}
    camera = load_calibration(default_calibration())
    T = np.eye(4)
    T[:3, :3] = matrix_from_quaternion([float(value[f"--q{k}"]) for k in "wxyz"])
    T[:3, 3] = [float(value[f"--{k}"]) for k in "xyz"]
    np.testing.assert_allclose(T, camera.T_base_camera, atol=1e-12)
    assert (value["--frame-id"], value["--child-frame-id"]) == ("base_link", camera.frame_id)
    controllers = yaml.safe_load((tmp_path / "ros2_controllers.yaml").read_text())
    joints = controllers["joint_trajectory_controller"]["ros__parameters"]["joints"]
    assert joints[0] == "shoulder_pan_joint" and len(joints) == 6
    gripper = controllers["gripper_controller"]["ros__parameters"]["joints"]
    assert gripper == ["left_finger_joint"]  # the right finger mimics it
    spawned = by_name["spawner_joint_trajectory_controller"].arguments
    assert spawned[:2] == ("joint_trajectory_controller", "gripper_controller")
    with pytest.raises(SupervisorError, match="come from a ROS 2 installation"):
        Supervisor(nodes, tmp_path)


def test_tf_in_both_modes_and_rviz_on_request(tmp_path, viewers_installed) -> None:
    """robot_state_publisher (the same processed URDF in both modes, on the robot's or the
    bridge's joint states) and the camera's static TF run in sim mode too; RViz2 only with
    rviz, started with the shipped configuration made this bringup's."""
    graphs = {}
    for mode in MODES:
        for rviz in (False, True):
            run_dir = tmp_path / f"{mode}_{rviz}"
            camera = "sim" if mode == "sim" else "0"
            bringup = Bringup(mode=mode, camera=camera, rviz=rviz, run_dir=str(run_dir))
            graphs[mode, rviz] = {n.name: n for n in declare_graph(bringup)}
    for (mode, rviz), nodes in graphs.items():
        assert {"robot_state_publisher", "camera_tf"} <= set(nodes), mode
        assert ("rviz2" in nodes) == rviz, (mode, rviz)
    sim, real = (graphs[mode, False]["robot_state_publisher"].parameters for mode in MODES)
    assert sim["robot_description"] == real["robot_description"]
    assert sim["use_sim_time"] and not real["use_sim_time"]
    assert graphs["sim", False]["camera_tf"] == graphs["real", False]["camera_tf"]
    rviz = graphs["sim", True]["rviz2"]
    config = tmp_path / "sim_True" / "simhum.rviz"
    assert rviz.arguments == ("-d", str(config)) and rviz.parameters == {"use_sim_time": True}
    assert yaml.safe_load(config.read_text())["Visualization Manager"]["Displays"]
    assert not (tmp_path / "sim_False" / "simhum.rviz").exists()


def test_without_the_ros_viewers_bringup_says_so_and_goes_on(tmp_path, no_viewers, caplog):
    nodes = declare_graph(Bringup(mode="sim", rviz=True, run_dir=str(tmp_path)))
    assert [n.name for n in nodes] == ["simhum_sim_bridge"]
    assert [r.getMessage() for r in caplog.records] == [
        "[simhum] robot_state_publisher/robot_state_publisher, "
        "tf2_ros/static_transform_publisher not installed here: TF not available in this "
        "bringup (on Ubuntu with ROS 2 Jazzy: sudo apt install "
        "ros-jazzy-robot-state-publisher ros-jazzy-tf2-ros)",
        "[simhum] rviz2/rviz2 not installed here: RViz not available in this bringup (on "
        "Ubuntu with ROS 2 Jazzy: sudo apt install ros-jazzy-rviz2)",
    ]
    assert not (tmp_path / "simhum.rviz").exists()


def test_the_rviz_configuration_shows_this_bringups_robot_and_topics(tmp_path) -> None:
    """The fixed frame is the robot's base frame and each display's topic comes from
    topics.yaml; the QoS of each display matches its publisher's (else RViz shows nothing)."""
    topics = replace(load_topics(), camera_image="/wrist/image", policy_intent_path="/a/path")
    config = yaml.safe_load(rviz_config(tmp_path / "a.rviz", "world", topics).read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "world"
    displays = {d["Class"]: d for d in manager["Displays"]}
    shown = {
        "Image": "/wrist/image",
        "Path": "/a/path",
        "MarkerArray": topics.policy_intent_markers,
    }
    for kind, topic in shown.items():
        assert displays[f"rviz_default_plugins/{kind}"]["Topic"]["Value"] == topic
    camera = displays["rviz_default_plugins/Image"]["Topic"]
    assert camera["Reliability Policy"] == "Best Effort"  # sensor-data QoS
    for kind in ("Path", "MarkerArray"):  # latched, as the policy node publishes them
        assert displays[f"rviz_default_plugins/{kind}"]["Topic"]["Durability Policy"] == (
            "Transient Local"
        )
    assert displays["rviz_default_plugins/MarkerArray"]["Namespaces"] == {NAMESPACE: True}
    robot = displays["rviz_default_plugins/RobotModel"]
    assert robot["Description Source"] == "Topic"
    assert robot["Description Topic"]["Value"] == "/robot_description"
    assert robot["Description Topic"]["Durability Policy"] == "Transient Local"
    assert "rviz_default_plugins/TF" in displays
    # the shipped file holds topics.yaml's names and the default robot's base frame, so it
    # also opens as it is (rviz2 -d)
    shipped = yaml.safe_load((share_dir() / "rviz" / "simhum.rviz").read_text())
    default = rviz_config(tmp_path / "default.rviz", "base_link", load_topics())
    assert yaml.safe_load(default.read_text()) == shipped


def test_bad_bringup_arguments(tmp_path) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        Bringup(mode="hybrid")
    with pytest.raises(ValueError, match="mode real needs a camera"):
        Bringup(mode="real")  # camera defaults to sim
    with pytest.raises(ValueError, match=r"camera:=/no/such\.mp4: no such video file"):
        Bringup(mode="real", camera="/no/such.mp4", run_dir=str(tmp_path))
    with pytest.raises(ValueError, match="split must be one of"):
        Bringup(split="outer")
    with pytest.raises(ValueError, match="policy file not found"):
        Bringup(policy=str(tmp_path / "missing.onnx"))
    assert Bringup.from_strings({"record": "true", "seed": "4"}).seed == 4


def wait_for(condition, timeout: float = 60.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return bool(condition())


def test_supervisor_starts_a_node_only_after_its_oneshot_succeeded(tmp_path) -> None:
    """As the launch file's event handlers do: `after` waits for an exit status 0."""
    bridge = declare_graph(Bringup(mode="sim", run_dir=str(tmp_path)))[0]
    step = NodeDecl("step", "python", "this", "this", oneshot=True)  # prints a poem, exits 0
    with Supervisor([step, replace(bridge, after="step")], tmp_path) as supervisor:
        assert bridge.name not in supervisor.procs  # not before the step is done

        def bridge_started() -> bool:
            supervisor.check()
            return bridge.name in supervisor.procs

        assert wait_for(bridge_started)
        assert supervisor.procs[bridge.name].poll() is None
    broken = NodeDecl("broken_step", "python", "none", "simhum_no_such_module", oneshot=True)
    with Supervisor([broken, replace(bridge, after="broken_step")], tmp_path) as supervisor:
        with pytest.raises(SupervisorError, match="node 'broken_step'"):
            wait_for(lambda: supervisor.check() and False, timeout=30.0)
        assert bridge.name not in supervisor.procs


def test_supervisor_reports_a_killed_node(tmp_path) -> None:
    nodes = declare_graph(
        Bringup(mode="sim", record=True, record_dir=str(tmp_path / "bags"), run_dir=str(tmp_path))
    )
    with Supervisor(nodes, tmp_path) as supervisor:
        assert wait_for(lambda: "simulating" in supervisor.log_path(nodes[0].name).read_text())
        supervisor.check()  # everything is up
        supervisor.procs["simhum_recorder"].send_signal(signal.SIGKILL)
        supervisor.procs["simhum_recorder"].wait(timeout=10)
        with pytest.raises(SupervisorError, match=r"node 'simhum_recorder' \(pid \d+\) exited"):
            supervisor.check()
    assert all(p.poll() is not None for p in supervisor.procs.values())  # all stopped


def test_simhum_up_stops_cleanly_on_ctrl_c(tmp_path) -> None:
    """Also when started with SIGINT ignored, as a shell without job control starts a
    background command (a test run as `nohup ... &` left the graph running on the test's
    DDS domain, and every later DDS test saw its camera)."""
    command = ["up", "--mode", "sim", "--rviz", "--run-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "simhum.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        bridge_log = tmp_path / "logs" / "simhum_sim_bridge.log"
        assert wait_for(lambda: bridge_log.is_file() and "simulating" in bridge_log.read_text())
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:  # never leave a graph behind on the test's DDS domain: the supervisor and its
        # nodes (their own sessions) all name the run folder on their command lines
        if proc.poll() is None:
            subprocess.run(["pkill", "-KILL", "-f", str(tmp_path)], check=False)
    assert proc.returncode == 0, output
    assert "1 nodes up: simhum_sim_bridge" in output and "stopping" in output
    # the ROS 2 viewers are not installed here: said, and the graph runs without them
    assert "TF not available in this bringup" in output
    assert "RViz not available in this bringup" in output and "ros-jazzy-rviz2" in output
    assert "simulating 'simhum_arm'" in (tmp_path / "logs" / "simhum_sim_bridge.log").read_text()


def identity_onnx(path: Path, props: dict[str, str]) -> Path:
    """A one-node ONNX model carrying ``props`` as metadata."""
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "contract_only",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    model = onnx.helper.make_model(graph)
    onnx.helper.set_model_props(model, props)
    onnx.save(model, path)
    return path


def test_real_camera_publishes_the_policy_image_size(tmp_path) -> None:
    """The camera node is told the model's input size (read from the model's contract)."""
    policy = write_toy_policy(tmp_path, image_width="96", image_height="72")
    nodes = declare_graph(
        Bringup(mode="real", camera="0", policy=str(policy), run_dir=str(tmp_path))
    )
    camera = next(n for n in nodes if n.name == "simhum_camera")
    assert (camera.parameters["image_width"], camera.parameters["image_height"]) == (96, 72)
    policy_node = next(n for n in nodes if n.name == "simhum_policy")
    # a managed node bringup configures at once and activates after the start pose
    assert policy_node.after == "simhum_start_pose" and policy_node.managed
    assert policy_node.parameters["autostart"] is False
    sim = declare_graph(Bringup(mode="sim", policy=str(policy), run_dir=str(tmp_path)))
    assert all(n.after is None for n in sim)


def test_a_guidance_scale_reaches_the_node_or_is_refused(tmp_path, capsys) -> None:
    """Bringup passes a guided policy's scale to the policy node; a policy without guidance
    refuses one before anything starts (launch, `simhum up` and `simhum eval` alike)."""
    guided = write_toy_policy(  # (bringup reads the contract only, not the graphs)
        tmp_path,
        guidance=json.dumps({"domain": "real", "scale": 1.5}),
        denoiser_inputs=json.dumps(["cond", "noisy_action", "timestep", "guidance_scale"]),
    )
    nodes = declare_graph(Bringup(policy=str(guided), guidance_scale=0.0, run_dir=str(tmp_path)))
    policy_node = next(n for n in nodes if n.name == "simhum_policy")
    assert policy_node.parameters["guidance_scale"] == 0.0
    (tmp_path / "plain").mkdir()
    plain = write_toy_policy(tmp_path / "plain")
    with pytest.raises(ValueError, match="no classifier-free guidance"):
        Bringup(policy=str(plain), guidance_scale=1.0)
    assert Bringup(policy=str(plain)).guidance_scale < 0  # the default: the contract's
    out = tmp_path / "eval"
    assert main(["eval", "--policy", str(plain), "--guidance-scale", "1", "--out", str(out)]) == 2
    assert "no classifier-free guidance" in capsys.readouterr().err
    assert not out.exists()


def test_a_file_that_is_not_an_exported_policy_is_one_line(tmp_path, capsys) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    good = write_toy_policy(tmp_path)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[:40])
    bare = identity_onnx(tmp_path / "bare.onnx", {})
    old = identity_onnx(  # exported before the contract recorded the lineage (version 1)
        tmp_path / "old.onnx",
        {
            p.key: p.value
            for p in onnx.load(good).metadata_props
            if p.key not in ("training_stage", "lineage")
        },
    )
    for path, message in [
        (text, "not a readable ONNX model"),
        (truncated, "not a readable ONNX model"),
        (bare, "no SimHum contract in its metadata"),
        (old, r"metadata lacks \['training_stage', 'lineage'\]; re-export it"),
    ]:
        with pytest.raises(ValueError, match=f"{path}: {message}"):
            Bringup(policy=str(path))
    for command, path, out in [
        ("eval", truncated, "--out"),
        ("eval", bare, "--out"),
        ("up", old, "--run-dir"),
    ]:
        assert main([command, "--policy", str(path), out, str(tmp_path / command)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"simhum {command}: {path}: "), lines
        assert not (tmp_path / command).exists()


def test_supervisor_runs_installed_ros_executables(tmp_path, viewers_installed) -> None:
    """Where ROS 2 is installed, the C++ nodes of the graph (robot_state_publisher here)
    run from their package's executable with the same arguments as a Python node."""
    script = viewers_installed / "lib" / "robot_state_publisher" / "robot_state_publisher"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "argv.txt"}\n')
    nodes = declare_graph(Bringup(mode="sim", run_dir=str(tmp_path)))
    publisher = next(n for n in nodes if n.name == "robot_state_publisher")
    assert publisher.module is None
    supervisor = Supervisor(nodes, tmp_path)  # accepted: every node can run here
    supervisor.start()
    try:
        supervisor.procs["robot_state_publisher"].wait(timeout=10)
    finally:
        supervisor.stop()
    argv = (tmp_path / "argv.txt").read_text().split()
    assert argv[:3] == ["--ros-args", "-r", "__node:=robot_state_publisher"]
