"""Runs an exported SimHum policy on the robot."""
