"""Human-hand demonstrations from the robot's camera."""
