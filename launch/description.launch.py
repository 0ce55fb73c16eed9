"""Publish the SimHum robot description: robot_state_publisher on the processed xacro.

ros2 launch simhum description.launch.py hardware:=real
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import Command, FindExecutable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """robot_state_publisher with the URDF from xacro, for RViz and TF."""
    robot_description = ParameterValue(
        Command(
            [
                PathJoinSubstitution([FindExecutable(name="xacro")]),
                " ",
                LaunchConfiguration("robot_description_file"),
                " hardware:=",
                LaunchConfiguration("hardware"),
            ]
        ),
        value_type=str,
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "robot_description_file",
                default_value=PathJoinSubstitution(
                    [FindPackageShare("simhum_description"), "urdf", "simhum_arm.urdf.xacro"]
                ),
                description="URDF or xacro file of the robot",
            ),
            DeclareLaunchArgument(
                "hardware",
                default_value="real",
                choices=["real", "sim"],
                description="ros2_control hardware plugin named in the URDF",
            ),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="follow /clock"
            ),
            Node(
                package="robot_state_publisher",
                executable="robot_state_publisher",
                parameters=[
                    {
                        "robot_description": robot_description,
                        "use_sim_time": LaunchConfiguration("use_sim_time"),
                    }
                ],
                output="screen",
            ),
        ]
    )
