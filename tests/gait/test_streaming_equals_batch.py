"""Streaming == batch: any chunking (sizes 0 and 1 included) gives bit-identical contact tables."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imu.gait.body_block import BodyBlock
from imu.gait.contact_table import ContactTable
from imu.gait.running import RunningContacts
from imu.gait.walking import WalkingContacts
from tests.gait._signals import running_block, walking_block

Stage = RunningContacts | WalkingContacts

chunkings = st.lists(
    st.one_of(st.integers(0, 1), st.integers(0, 40), st.integers(0, 800)),
    min_size=0,
    max_size=60,
)


def run(make: Callable[[], Stage], blocks: list[BodyBlock]) -> ContactTable:
    stage = make()
    return ContactTable.concat([*(stage.update(b) for b in blocks), stage.flush()])


def check(make: Callable[[], Stage], block: BodyBlock, sizes: list[int]) -> None:
    batch = run(make, [block])
    streamed = run(make, list(block.chunks(sizes)))
    assert len(batch) > 0
    assert streamed.equals(batch)


@cache
def alcantara_block(shared: Path) -> BodyBlock:
    from benchmarks.accuracy.contacts import ALCANTARA
    from benchmarks.accuracy.contacts import running_block as as_body
    from imu.io.load import load_recordings

    return as_body(load_recordings(f"{shared / ALCANTARA}#4")[0])


@cache
def voisard_block(shared: Path) -> BodyBlock:
    """A walking trial with lost packets, in the body frame the frame stage finds (as the pipeline runs)."""
    from benchmarks.accuracy.contacts import VOISARD, body_frame
    from imu.io.load import load_recordings

    return body_frame(load_recordings(shared / VOISARD / "6-1_lb.txt")[0])


SYNTHETIC_RUN = running_block(rate_hz=200.0, steps=12)[0]
SYNTHETIC_WALK = walking_block(steps=10)[0]
_keep = np.setdiff1d(np.arange(len(SYNTHETIC_WALK)), [150, 151, 300, 420, 421, 422])
LOSSY_WALK = BodyBlock(SYNTHETIC_WALK.t_s[_keep], SYNTHETIC_WALK.acc[_keep], None, 0)
"""Lost samples: the time stamps keep the holes."""


@settings(max_examples=40, deadline=None)
@given(sizes=chunkings)
def test_running_synthetic(sizes: list[int]) -> None:
    check(lambda: RunningContacts(200.0), SYNTHETIC_RUN, sizes)


@settings(max_examples=40, deadline=None)
@given(sizes=chunkings)
def test_walking_synthetic(sizes: list[int]) -> None:
    check(lambda: WalkingContacts(100.0), SYNTHETIC_WALK, sizes)
    check(lambda: WalkingContacts(100.0), LOSSY_WALK, sizes)


@pytest.mark.realdata
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=chunkings)
def test_walking_real_trial_in_the_found_body_frame(shared_data: Path, sizes: list[int]) -> None:
    check(lambda: WalkingContacts(100.0), voisard_block(shared_data), sizes)


@pytest.mark.realdata
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=chunkings)
def test_running_real_trial(shared_data: Path, sizes: list[int]) -> None:
    check(lambda: RunningContacts(500.0), alcantara_block(shared_data), sizes)


def test_all_size_one_blocks() -> None:
    block = SYNTHETIC_RUN.slice(0, 900)
    check(lambda: RunningContacts(200.0), block, [1] * len(block))
    assert np.all(np.diff(run(lambda: RunningContacts(200.0), [block]).ic_index) > 0)
