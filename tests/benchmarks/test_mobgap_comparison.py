"""The mobgap comparison feeds mobgap the right frame and scores it exactly as our own benchmarks score us.

Neither test needs mobgap (it is not installed in CI): the module imports it only inside the functions that
run it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.accuracy import contacts
from benchmarks.accuracy.mobgap_comparison import running_ic_score, to_mobgap
from imu.gait.body_block import BodyBlock
from imu.gait.running import RunningContacts


def test_mobgap_frame_is_ours_renamed_and_right_handed() -> None:
    """One sample along each of our axes (ap, v, ml): mobgap's (is, ml, pa) must be a proper rotation of
    them with is = our v and pa = our ap, for acc and gyr alike (McCamley reads the signs of gyr_is/pa)."""
    unit = np.eye(3)
    data = to_mobgap(BodyBlock(np.arange(3) / 100.0, unit * 9.81, unit * 50.0))
    for sensor, scale in (("acc", 9.81), ("gyr", 50.0)):
        axes = data[[f"{sensor}_is", f"{sensor}_ml", f"{sensor}_pa"]].to_numpy() / scale
        assert np.allclose(np.cross(axes[:, 0], axes[:, 1]), axes[:, 2])
        assert np.allclose(axes[:, 0], [0, 1, 0]) and np.allclose(axes[:, 2], [1, 0, 0])


@pytest.mark.realdata
def test_running_scorer_agrees_with_the_contacts_benchmark(shared_data: Path) -> None:
    """Our own detections scored by the comparison's scorer give the contacts benchmark's IC figures."""
    from imu.io.load import load_recordings

    recs = load_recordings(shared_data / contacts.ALCANTARA)[1:6:2]
    for rec in recs:
        found = contacts.detect(RunningContacts(rec.rate_hz), contacts.running_block(rec))
        ours, theirs = contacts.running_trial(rec), running_ic_score(rec, found.ic_t_s)
        assert (theirs.true_positives, theirs.false_positives, theirs.false_negatives) == (
            ours.true_positives,
            ours.false_positives,
            ours.false_negatives,
        )
        assert np.allclose(sorted(theirs.ic_error_s), sorted(ours.ic_error_s))
        assert theirs.cadence_error_spm == pytest.approx(ours.cadence_error_spm)
    # detections 100 ms late (steps last 260–400 ms) are beyond ±50 ms of every contact
    late = running_ic_score(rec, found.ic_t_s + 0.1)
    assert late.true_positives == 0
