from setuptools import find_packages, setup

package_name = "simhum_policy_node"

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
    description="Runs an exported SimHum policy (ONNX Runtime.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy = simhum_policy_node.policy_node:main",
            "start_pose = simhum_policy_node.start_pose:main",
        ],
    },
)
