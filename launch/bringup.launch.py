"""SimHum bringup: the robot (mode:=real) or its MuJoCo stand-in (mode:=sim), the camera, the
policy and the recorder, built from the one graph declaration in simhum.graph.

    ros2 launch simhum bringup.launch.py mode:=real camera:=0 policy:=/models/model.onnx
    ros2 launch simhum bringup.launch.py mode:=sim policy:=model.onnx record:=true
"""

from dataclasses import MISSING, fields

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from simhum.graph import Bringup, declare_graph


def _default(f) -> str:
    value = f.default_factory() if f.default is MISSING else f.default
    return str(value).lower() if isinstance(value, bool) else str(value)


def _nodes(context):
    values = {f.name: LaunchConfiguration(f.name).perform(context) for f in fields(Bringup)}
    return [
        Node(
            package=decl.package,
            executable=decl.executable,
            name=decl.name,
            parameters=[decl.parameters, *decl.parameter_files],
            arguments=list(decl.arguments),
            output="screen",
        )
        for decl in declare_graph(Bringup.from_strings(values))
    ]


def generate_launch_description() -> LaunchDescription:
    """One launch argument per Bringup field, then the declared graph."""
    arguments = [
        DeclareLaunchArgument(f.name, default_value=_default(f), description=f.metadata["help"])
        for f in fields(Bringup)
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes)])
