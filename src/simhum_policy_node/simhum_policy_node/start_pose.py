"""Start-pose node (real mode): before the policy takes over, move the arm to the start
configuration every episode starts from (simhum_core.kinematics.start_configuration),
planned by moveit_py where it is installed (with the configuration generated from the URDF,
simhum_core.moveit_config), else sent as one slow goal to joint_trajectory_controller's
FollowJointTrajectory action; the gripper's opening goes to its forward position controller.
The result is checked (the action's error code, then the measured joint state of every joint
against the goal); the node exits 0 at the start pose and 1 otherwise, and bringup starts
the policy only after an exit 0.

Needs control_msgs (ros-jazzy-control-msgs, installed with ros2_controllers on the robot).
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionClient
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from simhum_core.kinematics import start_configuration, start_pose_duration
from simhum_core.moveit_config import ARM_GROUP, START_STATE, moveit_parameters
from simhum_core.paths import default_urdf
from simhum_core.robot import load_robot
from simhum_core.topics import load_topics
from simhum_ros.messages import trajectory_msg
from simhum_ros.node import declare, run

PARAMETERS = {
    "robot_description_file": (str(default_urdf()), "URDF or xacro of the robot"),
    "tool_frame": ("tcp", "tool-centre-point link"),
    "controller": ("joint_trajectory_controller", "trajectory controller of the arm's joints"),
    "speed_rad_s": (0.3, "largest joint speed of the move (rad/s)", (0.01, 1.0)),
    "use_moveit": (True, "plan with moveit_py when it is installed"),
    "tolerance_rad": (0.02, "largest joint error accepted at the start pose (rad)", (1e-4, 0.2)),
    "timeout_s": (
        30.0,
        "wait this long for joint states and the controller's action",
        (1.0, 600.0),
    ),
}


class StartPoseNode(Node):
    """Moves to the start pose once, checks it got there, and exits with the outcome."""

    def __init__(self) -> None:
        super().__init__("simhum_start_pose")
        self.p = declare(self, PARAMETERS)
        self.robot = load_robot(self.p["robot_description_file"], tool_frame=self.p["tool_frame"])
        self.goal = start_configuration(self.robot)
        self.q: np.ndarray | None = None
        topics = load_topics()
        self.create_subscription(JointState, topics.joint_states, self.on_joints, 10)
        # the gripper's forward controller holds its last command: repeated until the end
        self.gripper = self.create_publisher(Float64MultiArray, topics.gripper_command, 10)
        self.arm_goal, self.gripper_goal = self.robot.controller_targets(self.goal[None])
        self.action = ActionClient(
            self, FollowJointTrajectory, f"/{self.p['controller']}/follow_joint_trajectory"
        )
        self.started = self.get_clock().now()
        self.poll = self.create_timer(0.1, self.begin)

    def on_joints(self, msg: JointState) -> None:
        """Keep the latest measured configuration (joints in the robot's order)."""
        known = [n in self.robot.joint_names for n in msg.name]
        if len(msg.position) != len(msg.name) or not all(known):
            return
        q = np.zeros(self.robot.dof) if self.q is None else self.q.copy()
        q[self.robot.indices(list(msg.name))] = msg.position
        self.q = q

    def begin(self) -> None:
        """Once joint states and the controller are there: move."""
        waited = (self.get_clock().now() - self.started).nanoseconds * 1e-9
        if self.q is None or not self.action.server_is_ready():
            if waited > self.p["timeout_s"]:
                what = "joint states" if self.q is None else "the controller's action server"
                self.fail(f"no {what} after {waited:.0f} s (are the spawners done?)")
            return
        self.poll.cancel()
        if len(self.gripper_goal):
            self.create_timer(0.2, self.command_gripper)
            self.command_gripper()
        if self.p["use_moveit"] and self.move_with_moveit():
            # execution blocked this thread: check on joint states that arrive after it
            self.create_timer(0.5, self.check_arrival)
            return
        duration = start_pose_duration(self.q, self.goal, self.p["speed_rad_s"])
        goal = FollowJointTrajectory.Goal()
        goal.trajectory = trajectory_msg(
            self.robot.arm_joint_names, self.arm_goal, [duration], self.robot.base_frame
        )
        goal.goal_time_tolerance = Duration(sec=1)
        self.get_logger().info(f"moving to the start pose over {duration:.1f} s")
        self.action.send_goal_async(goal).add_done_callback(self.on_accepted)

    def command_gripper(self) -> None:
        """The gripper's start opening, to its forward position controller."""
        self.gripper.publish(Float64MultiArray(data=self.gripper_goal.tolist()))

    def on_accepted(self, future) -> None:
        """The controller took the goal or refused it."""
        handle = future.result()
        if not handle.accepted:
            self.fail("the trajectory controller rejected the start-pose goal")
            return
        handle.get_result_async().add_done_callback(self.on_result)

    def on_result(self, future) -> None:
        """The controller's verdict, then the measured state's."""
        result = future.result().result
        if result.error_code != FollowJointTrajectory.Result.SUCCESSFUL:
            self.fail(f"the start-pose goal failed: {result.error_code} {result.error_string}")
            return
        self.check_arrival()

    def check_arrival(self) -> None:
        """Exit 0 when the measured joints are at the start pose, else 1."""
        error = np.abs(self.q - self.goal)
        worst = int(np.argmax(error))
        if error[worst] > self.p["tolerance_rad"]:
            self.fail(
                f"not at the start pose: {self.robot.joint_names[worst]} is "
                f"{error[worst]:.3f} rad away"
            )
            return
        self.get_logger().info("at the start pose")
        raise SystemExit(0)

    def fail(self, reason: str) -> None:
        """Say why and exit 1 (bringup then does not start the policy)."""
        self.get_logger().error(f"start pose failed: {reason}")
        raise SystemExit(1)

    def move_with_moveit(self) -> bool:
        """Plan and execute with moveit_py if it is installed; False when it is not."""
        try:
            from moveit.planning import MoveItPy
        except ImportError:
            return False
        moveit = MoveItPy(
            node_name="simhum_start_pose_moveit",
            config_dict=moveit_parameters(self.robot, self.goal, self.p["controller"]),
        )
        group = moveit.get_planning_component(ARM_GROUP)
        group.set_start_state_to_current_state()
        group.set_goal_state(configuration_name=START_STATE)
        plan = group.plan()
        if not plan:
            self.fail("MoveIt found no path to the start pose")
        moveit.execute(plan.trajectory, controllers=[self.p["controller"]])
        return True


def main() -> None:
    """Run the start-pose node until the arm is at the start pose (exit 0) or it failed."""
    run(StartPoseNode, "simhum_start_pose")


if __name__ == "__main__":
    main()
