"""Shared fixtures: where the real recordings live (tests that need them skip cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$IMU_SHARED_DATA`` or ``<repo>/../shared/data``; skips the test when the folder is absent."""
    path = Path(os.environ.get("IMU_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set IMU_SHARED_DATA)")
    return path
