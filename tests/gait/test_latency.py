"""Live latency: every step's figures (contact times, impact, loading rate, side and its confidence, all in
the body frame) must be final within 0.5 s of the step's toe-off, fed one small block at a time: every step,
the first steps of a bout included.

The latency of a step is the time of the last sample fed when its row came out minus its toe-off time.

- ``test_stages_meet_the_live_target``: frame → running contacts → live side, chained directly (the stages
  this target is about), on a simulated run (208 Hz, random mounting, standing start).
- ``test_pipeline_meets_the_live_target``: the same run through :class:`imu.gait.pipeline.GaitPipeline`:
  every step, from the first one after standing, within its detector's due delay (its kind decided on its
  own window while the bout stage has not confirmed running yet).
- ``test_real_running_meets_the_live_target``: the bundled alcantara2022 treadmill trials (5 s each, so the
  bout stage never confirms running before the trial ends: every step is a first step of its bout).
- ``test_real_walking_meets_the_live_target``: voisard2023 walks (100 Hz, lost packets); walking toe-off is
  not detected at L5, so each step is timed against its labelled toe-off (the first toe-off of the same
  foot after the labelled initial contact it matches). The detectors count their delay in samples, so
  where many packets are lost a step comes out later in time: on all 24 test-subject walks (6-1 … 9-6) 720
  of 724 matched steps met the target; three that did not lie in 7-3's stretch with a 0.65 s hole and
  ≈ 20 % of packets lost, one matches a toe-off labelled 0.09 s after its contact. The trials here were
  chosen before measuring (one per subject 6, 7, 9).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from imu.gait.contact_table import ContactTable
from imu.gait.frame import BodyFrameStage
from imu.gait.pipeline import GaitPipeline, StepTable
from imu.gait.running import RunningContacts
from imu.gait.sides import SideStage
from imu.samples import FloatArray, SampleBlock
from imu.sim.runner import RunnerSettings, SimulatedRun, simulate_run

BUNDLED_ALCANTARA = Path(__file__).resolve().parents[2] / "recordings" / "alcantara2022_sacral_running"
BUNDLED_ALCANTARA = BUNDLED_ALCANTARA / "Accelerometer_one_sub.csv"
VOISARD = "voisard2023_L5_walking_subjects01-09/GaitData"

TARGET_S = 0.5
"""The issue's target: a step's figures are final within this of its toe-off."""


@cache
def live_run() -> SimulatedRun:
    """5 s standing, then 40 s of running (a seed used by no other test or benchmark)."""
    return simulate_run(RunnerSettings(minutes=40 / 60, seed=31, standing_s=5.0))


def stage_latencies(samples: SampleBlock, block_size: int) -> tuple[dict[int, float], dict[int, float], int]:
    """Feed ``block_size`` samples at a time through frame → running contacts → live side.

    Returns, per contact (by IC index), the latency of its contact row and of its side (s after its
    toe-off), and the number of contacts found.
    """
    rate_hz = float(np.round(1.0 / np.median(np.diff(samples.t_s))))
    frame, contacts, sides = BodyFrameStage(rate_hz), RunningContacts(rate_hz), SideStage(rate_hz)
    to_t: dict[int, float] = {}
    contact_latency: dict[int, float] = {}
    side_latency: dict[int, float] = {}
    for block in samples.chunks([block_size] * (len(samples) // block_size)):
        body = frame.update(block)
        assert len(body) == len(block)  # the frame stage holds nothing back
        table: ContactTable = contacts.update(body)
        now = float(block.t_s[-1])
        for ic, t in zip(table.ic_index.tolist(), table.to_t_s.tolist(), strict=True):
            to_t[ic] = t
            contact_latency[ic] = now - t
        for side in sides.update(body, table.ic_index):
            side_latency[side.index] = now - to_t[side.index]
    return contact_latency, side_latency, len(to_t)


@pytest.mark.parametrize(("block_size", "seconds"), [(8, 45.0), (1, 12.0)])
def test_stages_meet_the_live_target(block_size: int, seconds: float) -> None:
    run = live_run()
    samples = run.samples.slice(0, round(seconds * run.rate_hz))
    contact_latency, side_latency, n = stage_latencies(samples, block_size)
    expected_steps = (seconds - 5.0) / 0.4  # running at ≥ 150 spm after 5 s of standing
    assert n >= expected_steps
    assert set(side_latency) == set(contact_latency)  # every contact got its side during the stream
    worst_contact = max(contact_latency.values())
    worst_side = max(side_latency.values())
    assert worst_contact <= worst_side <= TARGET_S, (worst_contact, worst_side)
    assert min(contact_latency.values()) >= 0.0


def pipeline_latencies(
    samples: SampleBlock, rate_hz: float, block_size: int = 8
) -> tuple[StepTable, FloatArray]:
    """Feed ``block_size`` samples at a time through the pipeline: the step rows that came out during the
    stream, and the time of the last sample fed when each came out."""
    pipeline = GaitPipeline(rate_hz, samples.has_gyr)
    tables, out_t = [], []
    for block in samples.chunks([block_size] * (len(samples) // block_size)):
        steps = pipeline.update(block).steps
        tables.append(steps)
        out_t += [float(block.t_s[-1])] * len(steps)
    return StepTable.concat(tables), np.array(out_t)


def test_pipeline_meets_the_live_target() -> None:
    run = live_run()
    samples = run.samples.slice(0, round(30.0 * run.rate_hz))
    steps, out_t = pipeline_latencies(samples, run.rate_hz)
    latency = out_t - steps.to_t_s
    assert len(steps) >= (30.0 - 5.0) / 0.4 and np.all(steps.gait == "running")
    assert np.all(np.isfinite(latency)) and latency.min() >= 0.0
    assert latency.max() <= TARGET_S, latency.max()
    # every step, the first ones of the bout included, comes out its detector's due delay after its IC
    due_s = GaitPipeline(run.rate_hz, True).steady_delay_s["running"]
    assert np.all(out_t - steps.t_s <= due_s + 8 / run.rate_hz)


@pytest.mark.parametrize("trial", range(1, 32, 3))
def test_real_running_meets_the_live_target(trial: int) -> None:
    from imu.io.load import load_recordings

    rec = load_recordings(f"{BUNDLED_ALCANTARA}#{trial}")[0]
    steps, out_t = pipeline_latencies(rec.samples, rec.rate_hz)
    latency = out_t - steps.to_t_s
    # ≈ 13 steps in a 5 s trial at ≥ 160 spm; the first ≈ 2.5 s fill the bout stage's window
    assert len(steps) >= 4 and np.all(steps.gait == "running")
    assert np.all(np.isfinite(latency)) and latency.max() <= TARGET_S, latency.max()


@pytest.mark.realdata
@pytest.mark.parametrize("trial", ["6-1", "7-2", "9-3"])
def test_real_walking_meets_the_live_target(shared_data: Path, trial: str) -> None:
    from imu.io.load import load_recording

    rec = load_recording(shared_data / VOISARD / f"{trial}_lb.txt")
    steps, out_t = pipeline_latencies(rec.samples, rec.rate_hz)
    walking = steps.gait == "walking"
    assert walking.sum() >= 10 and walking.mean() > 0.9
    events = rec.truth["events"]
    ic = events[events["event"] == "IC"]
    to = events[events["event"] == "TO"]
    late = []
    for t_s, done_s in zip(steps.t_s[walking].tolist(), out_t[walking].tolist(), strict=True):
        k = int(np.argmin(np.abs(ic["t_s"].to_numpy() - t_s)))
        if abs(ic["t_s"].iloc[k] - t_s) > 0.1:
            continue  # no labelled contact to time it against
        foot_to = to["t_s"][(to["foot"] == ic["foot"].iloc[k]) & (to["t_s"] > ic["t_s"].iloc[k])]
        if len(foot_to):
            late.append(done_s - float(foot_to.min()))
    assert len(late) >= 0.8 * walking.sum()
    assert max(late) <= TARGET_S, max(late)
