# SimHum robot image: ROS 2 Jazzy from apt, the workspace built with rosdep + colcon.
#   docker build -f docker/robot.Dockerfile -t simhum:robot .
#   docker run --rm -it --net=host --privileged -v /dev:/dev simhum:robot \
#     ros2 launch simhum bringup.launch.py mode:=real camera:=0 policy:=/models/model.onnx
# For GPU inference add --gpus all and a base with CUDA; onnxruntime-gpu is installed here,
# TensorRT comes from NVIDIA's own packages on the robot (see README).
FROM ros:jazzy

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive MUJOCO_GL=egl

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3-pip python3-venv \
        ros-jazzy-ros2-control \
        ros-jazzy-ros2-controllers \
        ros-jazzy-rosbag2-storage-mcap \
        ros-jazzy-moveit-py \
        ros-jazzy-robot-state-publisher \
        ros-jazzy-rviz2 \
        libegl1 libgl1-mesa-dri \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /ws
COPY . src/simhum
RUN rosdep update --rosdistro jazzy \
    && apt-get update \
    && rosdep install --from-paths src --ignore-src -y --rosdistro jazzy \
    && rm -rf /var/lib/apt/lists/*
# Python packages that have no rosdep key (the simulator, inference, episode files, hand
# tracking) go into a venv that sees apt's packages (PEP 668: apt owns /usr), pinned to work
# with apt's numpy 1.26; PYTHONPATH lets ROS's python3 (ros2 launch, the nodes) import them.
# Then the hand-tracking model from mediapipe 0.10.21's wheel (any architecture's wheel
# carries the same models; see scripts/hand_model_bundle.py).
RUN python3 -m venv --system-site-packages /opt/simhum/venv \
    && /opt/simhum/venv/bin/pip install --no-cache-dir \
        -r "src/simhum/docker/robot-requirements-$(uname -m).txt" \
    && /opt/simhum/venv/bin/pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 -d /tmp/mp mediapipe==0.10.21 \
    && python3 src/simhum/scripts/hand_model_bundle.py /tmp/mp/mediapipe-0.10.21-*.whl \
        /usr/share/simhum/hand_landmarker.task \
    && rm -rf /tmp/mp
ENV PYTHONPATH=/opt/simhum/venv/lib/python3.12/site-packages
RUN source /opt/ros/jazzy/setup.bash \
    && colcon build --metas src/simhum/colcon.meta --event-handlers console_cohesion+

COPY docker/entrypoint.sh /entrypoint.sh
ENTRYPOINT ["/entrypoint.sh"]
CMD ["bash"]
