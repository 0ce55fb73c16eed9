from setuptools import find_packages, setup

package_name = "simhum_ros"

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
    description="ROS 2 adapters shared by SimHum's nodes: parameters, QoS, message conversion.",
    license="Apache-2.0",
)
