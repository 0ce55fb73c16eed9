"""launch/bringup.launch.py through ROS 2 Jazzy's own `launch` and `launch_ros` Python packages.

They are not on PyPI and not vendored here: on a development machine, put the jazzy branches
of github.com/ros2/launch (launch/) and github.com/ros2/launch_ros (launch_ros/) on
PYTHONPATH with osrf-pycommon installed (`bash scripts/launch_test.sh` does that and runs this
file; the README, "Tests"); these tests skip otherwise.
Sim mode runs for real (the bridge and the policy node come up over DDS); real mode needs
ros2_control and the robot, so its launch description is expanded and its sequencing
(spawner -> start pose -> policy) driven with launch's own process-exit events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_graph_supervisor import viewers_installed  # noqa: F401 (a fixture)
from toy_policy import write_joint_position_policy, write_toy_policy

# this repository's own launch/ folder imports as an empty namespace package named `launch`
# when the working directory is on sys.path: ask for one of the real package's modules
pytest.importorskip(
    "launch.launch_service",
    reason="ROS 2 Jazzy's `launch` package is not installed (see the README, Tests)",
)
pytest.importorskip(
    "launch_ros", reason="ROS 2 Jazzy's `launch_ros` package is not installed (see the README)"
)

import launch
from launch.actions import DeclareLaunchArgument, LogInfo, RegisterEventHandler
from launch.events.process import ProcessExited
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.utilities import perform_substitutions
from launch_ros.actions import Node

BRINGUP = Path(__file__).resolve().parents[3] / "launch" / "bringup.launch.py"


def expand(**arguments: str) -> tuple[list, launch.LaunchContext]:
    """The actions bringup.launch.py produces for these launch arguments."""
    context = launch.LaunchContext()
    description = PythonLaunchDescriptionSource(str(BRINGUP)).get_launch_description(context)
    actions = []
    for entity in description.entities:
        entity.visit(context)  # declares the arguments with their defaults
    context.launch_configurations.update(arguments)
    for entity in description.entities:
        if opaque(entity):
            actions += entity.visit(context)
    return actions, context


def opaque(action) -> bool:
    return type(action).__name__ == "OpaqueFunction"


def node_name(node: Node) -> str:
    """The ROS name a Node action was given (launch_ros resolves ``node_name`` only once the
    action runs)."""
    return node._Node__node_name


def exited(node: Node, returncode: int) -> ProcessExited:
    """The event launch emits when ``node``'s process ends."""
    return ProcessExited(
        action=node, name=node_name(node), cmd=[], cwd=None, env=None, pid=1, returncode=returncode
    )


def test_real_mode_activates_the_policy_only_after_the_start_pose(tmp_path) -> None:
    """The policy (a lifecycle node) starts with the graph and is configured at once; it is
    activated only when it is configured AND the start pose has exited 0."""
    from launch.actions import EmitEvent
    from launch.events.process import ProcessStarted
    from launch_ros.events.lifecycle import StateTransition
    from lifecycle_msgs.msg import State, Transition, TransitionEvent

    policy = write_toy_policy(tmp_path)
    actions, context = expand(mode="real", camera="0", policy=str(policy), run_dir=str(tmp_path))
    started = {node_name(a): a for a in actions if isinstance(a, Node)}
    assert {"robot_state_publisher", "controller_manager", "simhum_camera"} <= set(started)
    assert {"spawner_joint_state_broadcaster", "spawner_joint_trajectory_controller"} <= set(
        started
    )
    assert "simhum_policy" in started  # started with the graph, inactive until activated
    handlers = [a.event_handler for a in actions if isinstance(a, RegisterEventHandler)]

    def follow(event) -> list:
        """What launch does on ``event`` (opaque functions run)."""
        out = [a for h in handlers if h.matches(event) for a in h.handle(event, context) or []]
        return [r for a in out for r in (a.visit(context) or [] if opaque(a) else [a])]

    def transitions(out: list) -> list[int]:
        return [a.event.transition_id for a in out if isinstance(a, EmitEvent)]

    def configured() -> StateTransition:
        msg = TransitionEvent(
            start_state=State(label="configuring"), goal_state=State(label="inactive")
        )
        return StateTransition(action=started["simhum_policy"], msg=msg)

    start_pose = follow(exited(started["spawner_joint_trajectory_controller"], 0))
    assert [node_name(n) for n in start_pose] == ["simhum_start_pose"]
    assert follow(exited(started["spawner_joint_state_broadcaster"], 0)) == []
    process = {"name": "policy", "cmd": [], "cwd": None, "env": None, "pid": 1}
    launched = follow(ProcessStarted(action=started["simhum_policy"], **process))
    assert transitions(launched) == [Transition.TRANSITION_CONFIGURE]
    # the start pose is done first: nothing until the model is configured, then activate
    assert transitions(follow(exited(start_pose[0], 0))) == []
    assert transitions(follow(configured())) == [Transition.TRANSITION_ACTIVATE]

    # the start pose failed: the policy stays inactive, and the launch says why
    actions, context = expand(mode="real", camera="0", policy=str(policy), run_dir=str(tmp_path))
    started = {node_name(a): a for a in actions if isinstance(a, Node)}
    handlers = [a.event_handler for a in actions if isinstance(a, RegisterEventHandler)]
    start_pose = follow(exited(started["spawner_joint_trajectory_controller"], 0))
    assert transitions(follow(configured())) == []
    refused = follow(exited(start_pose[0], 1))
    assert len(refused) == 1 and isinstance(refused[0], LogInfo)
    message = perform_substitutions(context, refused[0].msg)
    assert "simhum_start_pose exited with status 1" in message and "stays inactive" in message
    assert ("~/robot_description", "/robot_description") in [
        tuple(perform_substitutions(context, part) for part in pair)
        for pair in started["controller_manager"]._Node__remappings
    ]


@pytest.mark.usefixtures("viewers_installed")
def test_tf_in_both_modes_and_rviz_only_with_rviz_true(tmp_path) -> None:
    """robot_state_publisher and the camera's static TF in both modes; rviz2 only with
    rviz:=true, an argument declared with a description and default false."""
    context = launch.LaunchContext()
    description = PythonLaunchDescriptionSource(str(BRINGUP)).get_launch_description(context)
    declared = {a.name: a for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert perform_substitutions(context, declared["rviz"].default_value) == "false"
    assert "RViz2" in declared["rviz"].description
    for mode, camera in (("sim", "sim"), ("real", "0")):
        for rviz in ("false", "true"):
            actions, _ = expand(mode=mode, camera=camera, rviz=rviz, run_dir=str(tmp_path))
            names = {node_name(a) for a in actions if isinstance(a, Node)}
            assert {"robot_state_publisher", "camera_tf"} <= names, mode
            assert ("rviz2" in names) == (rviz == "true"), (mode, rviz)


def test_sim_mode_runs_through_ros2_launch(tmp_path, robot, ros_env, ros_node, spin) -> None:
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from simhum_core.topics import load_topics
    from simhum_sim_bridge.rollout import ready_pose

    topics = load_topics()
    policy = write_joint_position_policy(tmp_path, robot, ready_pose(robot))
    runner = textwrap.dedent(
        f"""
        import sys
        from launch import LaunchDescription, LaunchService
        from launch.actions import IncludeLaunchDescription
        from launch.launch_description_sources import PythonLaunchDescriptionSource
        service = LaunchService(noninteractive=True)
        service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
            PythonLaunchDescriptionSource({str(BRINGUP)!r}),
            launch_arguments={{"mode": "sim", "policy": {str(policy)!r},
                               "run_dir": {str(tmp_path)!r}}}.items())]))
        sys.exit(service.run())
        """
    )
    env = {**ros_env, "ROS_HOME": str(tmp_path / "ros_home")}
    proc = subprocess.Popen(
        [sys.executable, "-c", runner],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    states, commands = [], []
    ros_node.create_subscription(JointState, topics.joint_states, states.append, 10)
    ros_node.create_subscription(JointTrajectory, topics.joint_trajectory, commands.append, 10)
    try:
        assert spin(lambda: states and commands, timeout=120.0), "no joint states or commands"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output[-3000:]
    assert "process started" in output and "simhum_policy" in output
