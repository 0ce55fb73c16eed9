from setuptools import find_packages, setup

package_name = "simhum_human_capture"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="SimHum maintainers",
    maintainer_email="maintainers@simhum.dev",
    description="Human-hand demonstrations from the robot's camera.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "simhum_generate_human = simhum_human_capture.proxy_human:main",
            "camera = simhum_human_capture.camera_node:main",
            "hand_tracker = simhum_human_capture.tracker_node:main",
            "retargeting = simhum_human_capture.retarget_node:main",
            "recorder = simhum_human_capture.recorder_node:main",
        ],
    },
)
