"""SimHum bringup: the node graph, declared once, brought up by ``ros2 launch`` on a ROS 2
machine or by the ``simhum`` command where ``ros2 launch`` is not installed."""
