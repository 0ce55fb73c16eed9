"""ROS 2 adapters shared by SimHum's nodes (the core they adapt is simhum_core)."""
