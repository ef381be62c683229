"""The recording that ships in recordings/: complete, attributed, small, and readable by our importers."""

from __future__ import annotations

from pathlib import Path

from imu.io.load import load_recordings

FOLDER = Path(__file__).resolve().parents[2] / "recordings" / "alcantara2022_sacral_running"


def test_attribution_and_size() -> None:
    readme = (FOLDER / "README.md").read_text()
    assert (
        "Apache" in readme
        and "10.7717/peerj.12752" in readme
        and "8f21836746b4e791e8e9314d041bb8e09641dd1d" in readme
    )
    assert "Apache License" in (FOLDER / "LICENSE").read_text()
    assert sum(p.stat().st_size for p in FOLDER.iterdir()) < 6_000_000


def test_all_trials_load_with_truth() -> None:
    trials = load_recordings(FOLDER / "Accelerometer_one_sub.csv")
    assert len(trials) == 31
    assert sum(len(t.truth["contacts"]) for t in trials) == 466
    assert all({"speed_mps", "slope_deg"} <= set(t.meta["trial"]) for t in trials)
    assert all("grf" in t.truth for t in trials)
