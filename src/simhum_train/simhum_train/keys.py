"""Names used across the training package: store keys, domains, embodiments, batch keys."""

from __future__ import annotations

# Store arrays (time-major, one row per camera frame) and episode index.
IMAGE = "data/image"
TIMESTAMP = "data/timestamp"
STATE = "data/state"
TARGET = "data/target"
EPISODE_ENDS = "meta/episode_ends"

# Source domains (EpisodeMetadata.domain) and embodiments (EpisodeMetadata.embodiment).
SIM, HUMAN, REAL = "sim", "human", "real"
DOMAINS = (SIM, HUMAN, REAL)
ROBOT = "robot"
EMBODIMENTS = (ROBOT, HUMAN)

# Each domain's visual adaptor and embodiment: human and real-robot data are both real images.
ADAPTOR_OF = {SIM: SIM, HUMAN: REAL, REAL: REAL}
EMBODIMENT_OF = {SIM: ROBOT, HUMAN: HUMAN, REAL: ROBOT}

# The deployable path: what the robot sees and how it acts.
DEPLOY_ADAPTOR = REAL
DEPLOY_EMBODIMENT = ROBOT
DEPLOY_DOMAIN = REAL  # where a domain-conditioned policy's sampling is guided


def adaptor_of(domain: str, shared: bool) -> str:
    """The visual adaptor a domain's images go through: its look's, or with ``shared`` the
    deployable one for every domain."""
    return DEPLOY_ADAPTOR if shared else ADAPTOR_OF[domain]


# Batch keys (numpy and torch batches alike).
OBS_IMAGE = "image"  # uint8 [B, T, H, W, 3]
OBS_PROPRIO = "proprio"  # float32 [B, T, proprio_dim]
ACTION = "action"  # float32 [B, chunk_length, action_dim]
