"""Shared fixtures: the bundled fatigued run, analysed once per test session (batch = ``imu analyze``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imu.analyze import Analysis, analyze_recording
from imu.io.load import load_recording
from imu.samples import Recording

REPO = Path(__file__).resolve().parents[2]
FATIGUE_RUN = REPO / "recordings" / "simulated_fatigue_run"


@pytest.fixture(scope="session")
def fatigue_run() -> Recording:
    return load_recording(FATIGUE_RUN)


@pytest.fixture(scope="session")
def fatigue_analysis(fatigue_run: Recording) -> Analysis:
    return analyze_recording(fatigue_run)
