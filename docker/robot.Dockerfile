# SimHum robot image: ROS 2 Jazzy from apt, the workspace built with rosdep + colcon.
#   docker build -f docker/robot.Dockerfile -t simhum:robot .
#   docker run --rm -it --net=host --privileged -v /dev:/dev simhum:robot \
#     ros2 launch simhum bringup.launch.py mode:=real camera:=0 policy:=/models/model.onnx
# For GPU inference add --gpus all and a base with CUDA; onnxruntime-gpu is installed here,
# TensorRT comes from NVIDIA's own packages on the robot (see README).
FROM ros:jazzy

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1 MUJOCO_GL=egl

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3-pip \
        ros-jazzy-ros2-control \
        ros-jazzy-ros2-controllers \
        ros-jazzy-rosbag2-storage-mcap \
        ros-jazzy-moveit-py \
        libegl1 libgl1-mesa-dri \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /ws
COPY . src/simhum
RUN rosdep update --rosdistro jazzy \
    && apt-get update \
    && rosdep install --from-paths src --ignore-src -y --rosdistro jazzy \
    && rm -rf /var/lib/apt/lists/*
# Python packages that have no rosdep key: the simulator, inference, episode files, hand
# tracking; then the hand-tracking model (see scripts/hand_model_bundle.py).
RUN pip3 install --no-cache-dir -r src/simhum/docker/robot-requirements.txt \
    && pip3 download --no-deps -d /tmp/mp mediapipe==0.10.21 \
    && python3 src/simhum/scripts/hand_model_bundle.py /tmp/mp/mediapipe-0.10.21-*.whl \
        /usr/share/simhum/hand_landmarker.task \
    && rm -rf /tmp/mp
RUN source /opt/ros/jazzy/setup.bash \
    && colcon build --metas src/simhum/colcon.meta --event-handlers console_cohesion+

COPY docker/entrypoint.sh /entrypoint.sh
ENTRYPOINT ["/entrypoint.sh"]
CMD ["bash"]
