"""SimHum bringup: the robot (mode:=real) or its MuJoCo stand-in (mode:=sim), the camera, the
policy and the recorder, built from the one graph declaration in simhum.graph.

    ros2 launch simhum bringup.launch.py mode:=real camera:=0 policy:=/models/model.onnx
    ros2 launch simhum bringup.launch.py mode:=sim policy:=model.onnx record:=true
"""

from dataclasses import MISSING, fields

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from simhum.graph import Bringup, NodeDecl, declare_graph


def _default(f) -> str:
    value = f.default_factory() if f.default is MISSING else f.default
    return str(value).lower() if isinstance(value, bool) else str(value)


def _start_after(decl: NodeDecl, node: Node):
    """on_exit of the node ``decl`` waits for: start ``node`` only if that one succeeded."""

    def on_exit(event, context):
        if event.returncode == 0:
            return [node]
        return [
            LogInfo(
                msg=f"[simhum] {decl.after} exited with status {event.returncode}: "
                f"{decl.name} is not started (see {decl.after}'s log above)"
            )
        ]

    return on_exit


def _nodes(context):
    values = {f.name: LaunchConfiguration(f.name).perform(context) for f in fields(Bringup)}
    decls = declare_graph(Bringup.from_strings(values))
    nodes = {
        decl.name: Node(
            package=decl.package,
            executable=decl.executable,
            name=decl.name,
            parameters=[decl.parameters, *decl.parameter_files],
            arguments=list(decl.arguments),
            remappings=list(decl.remappings),
            output="screen",
        )
        for decl in decls
    }
    # a node declared `after` another starts when that one exits 0 (spawners, start pose)
    return [
        nodes[decl.name]
        if decl.after is None
        else RegisterEventHandler(
            OnProcessExit(
                target_action=nodes[decl.after], on_exit=_start_after(decl, nodes[decl.name])
            )
        )
        for decl in decls
    ]


def generate_launch_description() -> LaunchDescription:
    """One launch argument per Bringup field, then the declared graph."""
    arguments = [
        DeclareLaunchArgument(f.name, default_value=_default(f), description=f.metadata["help"])
        for f in fields(Bringup)
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes)])
