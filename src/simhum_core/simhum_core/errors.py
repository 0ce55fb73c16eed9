"""The one error type for a bad robot description or calibration file."""


class DescriptionError(ValueError):
    """A description or calibration file is missing or wrong; the message names the file."""
