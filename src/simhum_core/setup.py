from setuptools import find_packages, setup

package_name = "simhum_core"

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
    description="SimHum's plain-Python core: robot, kinematics, poses, bags, ONNX policy.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "check_description = simhum_core.check:main",
        ],
    },
)
