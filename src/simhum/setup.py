"""The `simhum` bringup package: installs the repository's top-level launch/ folder."""

from glob import glob

from setuptools import setup

package_name = "simhum"
# launch/ lives at the repository root (the user's layout); colcon runs this file from its
# own folder, and data_files must be relative paths.
launch_files = sorted(glob("../../launch/*.launch.py"))

setup(
    name=package_name,
    version="0.1.0",
    packages=["simhum"],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", launch_files),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="SimHum maintainers",
    maintainer_email="maintainers@simhum.dev",
    description="SimHum bringup: launch files.",
    license="Apache-2.0",
    entry_points={"console_scripts": ["simhum = simhum.cli:main"]},
)
