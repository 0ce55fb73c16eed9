"""The one error type of simhum_train: every bad input a user passes by name (a config, an
episode, a store, a checkpoint) raises a SimhumTrainError, which each command prints as one
line naming the file and the problem, with exit status 2."""


class SimhumTrainError(ValueError):
    """Bad input to training: the message names the file and what is wrong."""
