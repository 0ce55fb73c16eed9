from setuptools import find_packages, setup

package_name = "simhum_sim_bridge"

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
    description="MuJoCo simulation of the SimHum robot from the shared URDF.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "simhum_generate = simhum_sim_bridge.generate:main",
            "sim_bridge = simhum_sim_bridge.node:main",
            "simhum_preview_domains = simhum_sim_bridge.preview:main",
        ],
    },
)
