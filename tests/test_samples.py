"""The data model: validation at the boundary, typed empties, gaps, units."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.samples import Recording, SampleBlock, check_units, find_gaps, nominal_rate_hz, row_norms


def _block(n: int = 100, rate_hz: float = 100.0, gyr: bool = True) -> SampleBlock:
    t = np.arange(n) / rate_hz
    acc = np.tile([0.0, 0.0, STANDARD_GRAVITY_MS2], (n, 1))
    return SampleBlock(t, acc, np.zeros((n, 3)) if gyr else None)


def test_block_converts_to_contiguous_float64() -> None:
    b = SampleBlock(np.arange(3), np.ones((3, 3), dtype=np.int16), None)
    assert b.t_s.dtype == np.float64
    assert b.acc.dtype == np.float64
    assert not b.has_gyr
    assert len(b) == 3


@pytest.mark.parametrize(
    ("t", "acc", "gyr", "message"),
    [
        (np.zeros((2, 2)), np.zeros((2, 3)), None, "one-dimensional"),
        (np.arange(3.0), np.zeros((3, 2)), None, "(3, 3)"),
        (np.arange(3.0), np.zeros((3, 3)), np.zeros((2, 3)), "angular rate"),
        (np.array([0.0, np.nan, 2.0]), np.zeros((3, 3)), None, "NaN"),
        (np.array([0.0, 2.0, 1.0]), np.zeros((3, 3)), None, "t[2] > t[1]"),
    ],
)
def test_block_rejects_malformed_arrays(t, acc, gyr, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        SampleBlock(t, acc, gyr)


def test_empty_block_is_typed() -> None:
    e = SampleBlock.empty(has_gyr=False, start_index=7)
    assert len(e) == 0
    assert e.acc.shape == (0, 3)
    assert e.gyr is None
    assert e.start_index == e.stop_index == 7


def test_slices_and_chunks_keep_absolute_indices() -> None:
    b = _block(10)
    parts = list(b.chunks([0, 1, 3]))
    assert [len(p) for p in parts] == [0, 1, 3, 6]
    assert [p.start_index for p in parts] == [0, 0, 1, 4]
    joined = SampleBlock.concat(parts)
    np.testing.assert_array_equal(joined.t_s, b.t_s)
    np.testing.assert_array_equal(joined.acc, b.acc)


def test_concat_refuses_mixed_channels() -> None:
    with pytest.raises(InputError, match="with and without"):
        SampleBlock.concat([_block(3), _block(3, gyr=False)])


def test_frame_round_trip_and_missing_columns() -> None:
    b = _block(5)
    again = SampleBlock.from_frame(b.to_frame())
    np.testing.assert_array_equal(again.acc, b.acc)
    with pytest.raises(InputError, match="missing columns") as err:
        SampleBlock.from_frame(pd.DataFrame({"t_s": [0.0], "acc_x": [0.0]}), where="x.csv")
    assert "x.csv" in str(err.value)
    assert "acc_y" in str(err.value)
    with pytest.raises(InputError, match="incomplete gyroscope"):
        SampleBlock.from_frame(b.to_frame().drop(columns=["gyr_z"]))


def test_gaps_are_marked_not_spread() -> None:
    t = np.concatenate([np.arange(100), np.arange(110, 200)]) / 100.0
    rate = nominal_rate_hz(t)
    assert rate == pytest.approx(100.0)
    gaps = find_gaps(t, rate, start_index=1000)
    assert len(gaps) == 1
    assert gaps[0].index == 1100
    assert gaps[0].missing_samples == 10
    assert gaps[0].duration_s == pytest.approx(0.11)


def test_recording_reports_duration_and_gaps() -> None:
    rec = Recording.from_samples(_block(201), "memory")
    assert rec.rate_hz == pytest.approx(100.0)
    assert rec.duration_s == pytest.approx(2.0)
    assert rec.gaps() == []


@pytest.mark.parametrize(
    ("scale", "message"),
    [(1.0 / STANDARD_GRAVITY_MS2, "looks like g"), (1000.0 / STANDARD_GRAVITY_MS2, "not in m/s²")],
)
def test_units_check_names_the_likely_unit(scale: float, message: str) -> None:
    b = _block(10)
    wrong = SampleBlock(b.t_s, b.acc * scale, None)
    with pytest.raises(InputError, match=message):
        check_units(wrong, where="f.csv")


def test_units_check_rejects_raw_gyro_counts() -> None:
    b = _block(10)
    wrong = SampleBlock(b.t_s, b.acc, np.full((10, 3), 32000.0))
    with pytest.raises(InputError, match="angular rate"):
        check_units(wrong)
    check_units(b)  # m/s² and deg/s pass


@settings(max_examples=200, deadline=None)
@given(
    xyz=arrays(
        np.float64, st.tuples(st.integers(0, 40), st.just(3)), elements=st.floats(allow_subnormal=True)
    )
)
def test_row_norms_are_numpys_norm_bit_for_bit(xyz: np.ndarray) -> None:
    """Any floats (every magnitude, overflow to infinity, NaN) and a strided view give the same bits."""
    for view in (xyz, xyz[::2], np.asfortranarray(xyz)):
        with np.errstate(all="ignore"):
            ours, numpys = row_norms(view), np.linalg.norm(view, axis=1)
        np.testing.assert_array_equal(ours, numpys, strict=True)
