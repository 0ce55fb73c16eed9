"""simhum_train: plain Python (no rclpy), installable anywhere: pip install -e src/simhum_train."""

from setuptools import find_packages, setup

setup(
    name="simhum_train",
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={"simhum_train": ["configs/*.yaml"]},
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "torch",
        "onnx",
        "onnxruntime",
        "rosbags",
        "pyyaml",
        "tqdm",
        "zarr>=3",
        "matplotlib",
        "pillow",
        "pot",  # optimal transport: the co-training diagnostics and alignment loss
        "pyarrow",  # LeRobot datasets: parquet tables
        "av",  # LeRobot datasets: MP4 videos
        "tensorboard",  # training logs beside the CSV
    ],
    description="SimHum training: episodes to dataset, modular policy, two-stage training, "
    "baselines, ONNX export.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "simhum_dataset = simhum_train.convert:main",
            "simhum_train = simhum_train.train:main",
            "simhum_export = simhum_train.export:main",
            "simhum_lerobot = simhum_train.lerobot_cli:main",
        ],
    },
)
