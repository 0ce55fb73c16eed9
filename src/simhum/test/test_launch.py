"""launch/bringup.launch.py through ROS 2 Jazzy's own `launch` and `launch_ros` Python packages.

They are not on PyPI and not vendored here: on a development machine, put the jazzy branches
of github.com/ros2/launch (launch/) and github.com/ros2/launch_ros (launch_ros/) on
PYTHONPATH with osrf-pycommon installed (see the README, "Tests"); these tests skip otherwise.
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
from toy_policy import write_joint_position_policy, write_toy_policy

launch = pytest.importorskip(
    "launch", reason="ROS 2 Jazzy's `launch` package is not installed (see the README, Tests)"
)
pytest.importorskip(
    "launch_ros", reason="ROS 2 Jazzy's `launch_ros` package is not installed (see the README)"
)

from launch.actions import LogInfo, RegisterEventHandler  # noqa: E402
from launch.events.process import ProcessExited  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from launch.utilities import perform_substitutions  # noqa: E402
from launch_ros.actions import Node  # noqa: E402

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
        if type(entity).__name__ == "OpaqueFunction":
            actions += entity.visit(context)
    return actions, context


def node_name(node: Node) -> str:
    """The ROS name a Node action was given (launch_ros resolves ``node_name`` only once the
    action runs)."""
    return node._Node__node_name


def exited(node: Node, returncode: int) -> ProcessExited:
    """The event launch emits when ``node``'s process ends."""
    return ProcessExited(
        action=node, name=node_name(node), cmd=[], cwd=None, env=None, pid=1, returncode=returncode
    )


def test_real_mode_starts_the_policy_only_after_the_start_pose(tmp_path) -> None:
    policy = write_toy_policy(tmp_path)
    actions, context = expand(mode="real", camera="0", policy=str(policy), run_dir=str(tmp_path))
    started = {node_name(a): a for a in actions if isinstance(a, Node)}
    assert {"robot_state_publisher", "controller_manager", "simhum_camera"} <= set(started)
    assert {"spawner_joint_state_broadcaster", "spawner_joint_trajectory_controller"} <= set(
        started
    )
    handlers = [a.event_handler for a in actions if isinstance(a, RegisterEventHandler)]
    assert len(handlers) == 2  # start pose after the trajectory controller; policy after it

    def follow(node: Node, returncode: int) -> list:
        """What launch does when ``node`` exits with ``returncode``."""
        event = exited(node, returncode)
        return [out for h in handlers if h.matches(event) for out in h.handle(event, context)]

    start_pose = follow(started["spawner_joint_trajectory_controller"], 0)
    assert [node_name(n) for n in start_pose] == ["simhum_start_pose"]
    assert follow(started["spawner_joint_state_broadcaster"], 0) == []
    policy_node = follow(start_pose[0], 0)
    assert [node_name(n) for n in policy_node] == ["simhum_policy"]
    refused = follow(start_pose[0], 1)  # the start pose failed: the policy never starts
    assert len(refused) == 1 and isinstance(refused[0], LogInfo)
    message = perform_substitutions(context, refused[0].msg)
    assert "simhum_start_pose exited with status 1" in message and "not started" in message
    assert ("~/robot_description", "/robot_description") in [
        tuple(perform_substitutions(context, part) for part in pair)
        for pair in started["controller_manager"]._Node__remappings
    ]


def test_sim_mode_runs_through_ros2_launch(tmp_path, robot, ros_env, ros_node, spin) -> None:
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from simhum_description.topics import load_topics
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
