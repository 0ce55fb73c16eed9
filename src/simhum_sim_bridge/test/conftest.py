"""Test helpers of the sim bridge's tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the tests' helper modules (jtc_reference)
