"""The producer threads and the shared state without a browser: streaming equals batch, bounded memory.

A recording replayed through :class:`ReplayProducer` (the live path, block by block) must end with the
same steps and the same minutes table as ``imu analyze`` on the same recording, and every minute row the
dashboard showed during the run must equal the batch row. A virtual sensor streamed through bleak and
the link (``imu live --virtual``) must give the same steps as the analysis of the session it recorded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from imu.analyze import Analysis, analyze_recording
from imu.dashboard.producer import LiveProducer, ReplayProducer
from imu.dashboard.state import LiveState, RingBuffer
from imu.io.load import load_recording
from imu.samples import Recording

STEP_KEYS = ("t_s", "side", "impact_g", "contact_time_s")


class RecordingState(LiveState):
    """A state that also keeps everything it was given (for comparison with batch; tests only)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.all_steps: list[dict[str, Any]] = []
        self.shown_minutes: list[dict[str, Any]] = []

    def add_steps(self, steps: list[dict[str, Any]], n_running: int) -> None:
        super().add_steps(steps, n_running)
        self.all_steps += steps

    def add_minutes(self, rows: list[dict[str, Any]]) -> None:
        super().add_minutes(rows)
        self.shown_minutes += rows


def _running_steps(analysis: Analysis) -> pd.DataFrame:
    run = analysis.steps[analysis.steps["gait"] == "running"]
    return run[list(STEP_KEYS)].reset_index(drop=True).astype({"side": str})


def _shown_steps(state: RecordingState) -> pd.DataFrame:
    return pd.DataFrame(state.all_steps, columns=list(STEP_KEYS)).astype({"side": str})


def test_ring_buffer_keeps_the_newest_in_order() -> None:
    ring = RingBuffer(5, 2)
    assert ring.values().shape == (0, 2)
    ring.push(np.arange(6.0).reshape(3, 2))
    ring.push(np.arange(6.0, 14.0).reshape(4, 2))
    assert len(ring) == 5 and ring.pushed == 7
    np.testing.assert_array_equal(ring.values()[:, 0], [4.0, 6.0, 8.0, 10.0, 12.0])
    ring.push(np.arange(100.0, 120.0).reshape(10, 2))  # more than it holds at once
    np.testing.assert_array_equal(ring.values()[:, 0], [110.0, 112.0, 114.0, 116.0, 118.0])


def test_replay_equals_batch(fatigue_run: Recording, fatigue_analysis: Analysis) -> None:
    state = RecordingState(rate_hz=fatigue_run.rate_hz)
    producer = ReplayProducer(fatigue_run, state, speed=1e6)  # as fast as it goes, in blocks of ≤ 10 s
    producer.start()
    producer.join(timeout=120)
    assert not producer.is_alive() and producer.error is None
    snap = state.snapshot()
    assert snap.status == "finished"

    batch_steps = _running_steps(fatigue_analysis)
    live_steps = _shown_steps(state)
    pd.testing.assert_frame_equal(live_steps, batch_steps, check_exact=True)
    assert snap.n_running_steps == len(batch_steps) > 4000

    minutes = producer.analysis.minutes_
    pd.testing.assert_frame_equal(minutes, fatigue_analysis.minutes, check_exact=True)
    assert [r["t_start_s"] for r in snap.minutes] == minutes["t_start_s"].tolist()

    # every minute row shown while the run went on was already the batch row
    shown = pd.DataFrame(state.shown_minutes).set_index("t_start_s")
    batch = fatigue_analysis.minutes.set_index("t_start_s").loc[shown.index]
    assert len(shown) >= len(batch) - 2 and len(shown) > 25
    pd.testing.assert_frame_equal(
        shown[batch.columns].astype(batch.dtypes.to_dict()), batch, check_exact=True
    )

    # bounded memory: the raw trace and recent steps are rings; the analysis keeps about two minutes
    assert len(snap.trace) <= round(state.trace_s * state.rate_hz) and len(snap.steps) <= state.max_steps
    assert producer.analysis.n_retained_steps_ < 3 * 180
    # the rolling "now" figures compare with the baseline at the end of the run
    assert snap.baseline is not None and snap.current["cadence_spm_drift"] < -3.0


def test_a_replay_stops_promptly(fatigue_run: Recording) -> None:
    state = LiveState(rate_hz=fatigue_run.rate_hz)
    producer = ReplayProducer(fatigue_run, state, speed=1.0)
    producer.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    producer.stop()
    producer.join(timeout=10)
    assert not producer.is_alive() and time.monotonic() - t0 < 5.0
    assert state.snapshot().status == "stopped"


def test_a_bad_speed_is_refused(fatigue_run: Recording) -> None:
    with pytest.raises(ValueError, match="speed"):
        ReplayProducer(fatigue_run, LiveState(), speed=0.0)


def test_live_virtual_sensor_streams_records_and_equals_the_recorded_session(tmp_path: Path) -> None:
    from imu.link.protocols import PROTOCOLS
    from imu.link.virtual import virtual_sensor

    seconds = 150.0
    air, device = virtual_sensor("reference", seconds=seconds, speed=60.0)
    state = RecordingState(rate_hz=208.0)
    session = tmp_path / "live_session"
    producer = LiveProducer(
        state,
        device.address,
        protocol=PROTOCOLS["reference"](),
        backend=air.client_backend,
        timebase=air.time,
        air=air,
        record_to=session,
        seconds=seconds,
    )
    producer.start()
    producer.join(timeout=60)
    assert not producer.is_alive() and producer.error is None
    snap = state.snapshot()
    assert snap.link is not None and snap.link["packets"] > 1000 and snap.link["connections"] == 1
    assert snap.n_running_steps > 300 and snap.status == "stopped"

    recorded = load_recording(session)
    assert producer.recording is not None and len(recorded.samples) == snap.n_samples
    batch = _running_steps(analyze_recording(recorded))
    live = _shown_steps(state)
    pd.testing.assert_frame_equal(live, batch, check_exact=True)
