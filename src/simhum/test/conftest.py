"""Test helpers of the simhum package's tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the tests' helper modules (expert_oracle)
# the policy runtime's hand-built exported policies (toy_policy)
sys.path.insert(1, str(Path(__file__).parents[2] / "simhum_policy_node" / "test"))
