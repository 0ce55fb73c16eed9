"""MuJoCo simulation of the SimHum robot from the shared URDF."""
