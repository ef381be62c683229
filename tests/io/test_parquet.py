"""Parquet tables with the generic columns: round trip, extra columns ignored, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imu.errors import InputError
from imu.io.load import load_recording
from imu.samples import SampleBlock


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    acc = rng.normal(0, 1, (n, 3)) + np.array([0, 9.81, 0])
    return SampleBlock(np.arange(n) / 200.0, acc, rng.normal(0, 30, (n, 3))).to_frame()


def test_round_trip_and_ignored_columns(tmp_path: Path) -> None:
    frame = _frame()
    frame["seq"] = np.arange(len(frame))
    path = tmp_path / "samples.parquet"
    frame.to_parquet(path)
    rec = load_recording(path)
    assert rec.meta["format"] == "parquet" and rec.meta["ignored_columns"] == ["seq"]
    np.testing.assert_array_equal(rec.samples.gyr, frame[["gyr_x", "gyr_y", "gyr_z"]].to_numpy())
    assert rec.rate_hz == pytest.approx(200.0)


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    _frame().drop(columns=["acc_z", "gyr_y"]).to_parquet(path)
    with pytest.raises(InputError, match="missing columns acc_z, gyr_y") as info:
        load_recording(path)
    assert str(path) in str(info.value)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    _frame().to_parquet(path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(InputError, match="unreadable Parquet") as info:
        load_recording(path)
    assert str(path) in str(info.value)


def test_time_going_back(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[100, "t_s"] = frame.loc[98, "t_s"]
    path = tmp_path / "s.parquet"
    frame.to_parquet(path)
    with pytest.raises(InputError, match=r"time does not increase at row \(0-based\) 100") as info:
        load_recording(path)
    assert str(path) in str(info.value)
