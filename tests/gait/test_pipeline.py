"""The whole gait chain: streaming == batch for any chunking, fixed look-ahead, bouts gate the steps."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu.errors import InputError
from imu.gait.pipeline import GaitPipeline, PipelineOutput, StepTable
from imu.samples import SampleBlock
from imu.sim.runner import RunnerSettings, SimulatedRun, simulate_run


@cache
def short_run() -> SimulatedRun:
    """5 s standing, then 25 s of running: bouts of two kinds, sides and settled pelvis strides."""
    return simulate_run(RunnerSettings(minutes=25 / 60, seed=7, standing_s=5.0))


def run(blocks: list[SampleBlock], has_gyr: bool = True) -> PipelineOutput:
    pipeline = GaitPipeline(208.0, has_gyr)
    return PipelineOutput.concat([*(pipeline.update(b) for b in blocks), pipeline.flush()])


@cache
def batch() -> PipelineOutput:
    return run([short_run().samples])


def same(a: PipelineOutput, b: PipelineOutput) -> bool:
    return a.steps.equals(b.steps) and a.strides.equals(b.strides) and a.bouts.equals(b.bouts)


chunkings = st.lists(
    st.one_of(st.integers(0, 1), st.integers(0, 300), st.integers(0, 3000)), min_size=0, max_size=25
)


@settings(max_examples=12, deadline=None)
@given(sizes=chunkings)
def test_streaming_equals_batch_for_any_chunking(sizes: list[int]) -> None:
    streamed = run(list(short_run().samples.chunks(sizes)))
    assert len(batch().steps) > 40 and len(batch().strides) > 20
    assert same(streamed, batch())


def test_tiny_blocks_equal_batch() -> None:
    samples = short_run().samples
    sizes = [1, 0, 1, 2, 0] * 400  # 1600 samples in blocks of 0, 1 and 2, then the rest
    assert same(run(list(samples.chunks(sizes))), batch())


def test_steps_only_in_gait_bouts_and_chains_break_at_bouts() -> None:
    out = batch()
    steps = out.steps
    bouts = out.bouts
    running = np.flatnonzero(bouts.kind == "running")
    assert running.size >= 1
    assert np.all(steps.gait == "running") and set(steps.bout.tolist()) <= set(running.tolist())
    first_of_bout = np.concatenate([[True], steps.bout[1:] != steps.bout[:-1]])
    assert np.all(np.isnan(steps.step_time_s[first_of_bout]))
    assert np.all(steps.t_s >= 4.0)  # nothing while standing
    assert np.all(np.diff(steps.ic_index) > 0)


def test_steps_are_final_within_the_documented_look_ahead() -> None:
    samples = short_run().samples
    pipeline = GaitPipeline(208.0, True)
    chunk = 52  # 0.25 s
    for block in samples.chunks([chunk] * (len(samples) // chunk)):
        out = pipeline.update(block)
        if len(block) and len(out.steps):
            delay = float(block.t_s[-1]) - out.steps.t_s
            assert np.all(delay <= pipeline.look_ahead_s + chunk / 208.0)


def test_acceleration_only_gives_steps_without_strides() -> None:
    s = short_run().samples
    out = run([SampleBlock(s.t_s, s.acc, None)], has_gyr=False)
    assert len(out.steps) > 40 and len(out.strides) == 0
    assert set(out.steps.side.tolist()) <= {"L", "R", "?"}


def test_empty_stream_gives_typed_empty_output() -> None:
    out = GaitPipeline(100.0, True).flush()
    assert len(out.steps) == 0 and out.steps.t_s.dtype == np.float64 and out.steps.ic_index.dtype == np.int64
    assert out.steps.to_frame().columns.tolist() == list(StepTable.empty().to_frame().columns)


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(InputError, match="at least 50 Hz"):
        GaitPipeline(25.0, True)
    s = short_run().samples.slice(0, 100)
    with pytest.raises(InputError, match="acceleration only"):
        GaitPipeline(208.0, False).update(s)
