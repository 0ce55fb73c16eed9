"""SimHum training: datasets, the modular policy, two-stage training and ONNX export.

Plain Python with no rclpy, so it runs on any workstation or cluster.
"""
