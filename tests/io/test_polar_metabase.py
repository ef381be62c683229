"""Polar Sensor Logger and MetaBase exports, on the SYNTHETIC fixtures (see fixtures/README.md for why)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.io.load import load_recording

FIXTURES = Path(__file__).parent / "fixtures"
SENSE = "Polar_Sense_B5A8E12F_20240315_101500"
H10_ACC = FIXTURES / "Polar_H10_A1B2C3D4_20240315_101500_ACC.txt"
MB = "Synthetic_2024-03-15T10.15.00.000_C8A1B2C3D4E5"
MB_ANDROID = FIXTURES / "SyntheticAndroid_2024-03-15T10.15.00.000_D1E2F3A4B5C6_Accelerometer.csv"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# ------------------------------------------------------------------------------------------ Polar
def test_polar_either_file_gives_the_same_paired_recording() -> None:
    from_acc = load_recording(FIXTURES / f"{SENSE}_ACC.txt")
    from_gyr = load_recording(FIXTURES / f"{SENSE}_GYRO.txt")
    np.testing.assert_array_equal(from_acc.samples.t_s, from_gyr.samples.t_s)
    np.testing.assert_array_equal(from_acc.samples.gyr, from_gyr.samples.gyr)
    assert from_acc.meta["format"] == "polar-sensor-logger"
    assert from_acc.meta["device"] == "Polar Sense" and from_acc.meta["device_id"] == "B5A8E12F"


def test_polar_units_and_alignment_against_the_raw_lines() -> None:
    rec = load_recording(FIXTURES / f"{SENSE}_ACC.txt")
    acc_rows = [r.split(";") for r in _lines(FIXTURES / f"{SENSE}_ACC.txt")[1:]]
    gyr_rows = [r.split(";") for r in _lines(FIXTURES / f"{SENSE}_GYRO.txt")[1:]]
    # acc in mg -> m/s²
    np.testing.assert_allclose(
        rec.samples.acc[0], np.array(acc_rows[0][2:], float) * STANDARD_GRAVITY_MS2 / 1000
    )
    # a gyro sample time coincides with an acc sample time (ns clocks): the value passes through unchanged
    t_gyr_5 = (int(gyr_rows[5][1]) - int(acc_rows[0][1])) / 1e9
    i = int(np.argmin(np.abs(rec.samples.t_s - t_gyr_5)))
    assert rec.samples.t_s[i] == pytest.approx(t_gyr_5, abs=1e-9)
    np.testing.assert_allclose(rec.samples.gyr[i], np.array(gyr_rows[5][2:], float))
    # acc beyond the last gyro sample is dropped, not extrapolated
    t_last_gyr = (int(gyr_rows[-1][1]) - int(acc_rows[0][1])) / 1e9
    assert rec.samples.t_s[-1] <= t_last_gyr
    assert rec.meta["acc_samples_dropped"] == sum(
        (int(r[1]) - int(acc_rows[0][1])) / 1e9 > t_last_gyr for r in acc_rows
    )


def test_polar_h10_without_gyro_is_acc_only() -> None:
    rec = load_recording(H10_ACC)
    assert not rec.samples.has_gyr and len(rec.samples) == len(_lines(H10_ACC)) - 1
    assert rec.rate_hz == pytest.approx(200.0)


def test_polar_gyro_gap_leaves_an_acc_gap(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / f"{SENSE}_ACC.txt", tmp_path)
    gyr = _lines(FIXTURES / f"{SENSE}_GYRO.txt")
    (tmp_path / f"{SENSE}_GYRO.txt").write_text("\n".join(gyr[:50] + gyr[60:]) + "\n")  # 10 gyro samples lost
    rec = load_recording(tmp_path / f"{SENSE}_ACC.txt")
    gaps = rec.gaps()
    assert len(gaps) == 1
    lost_s = 11 / 52.0  # the interval spanning 10 lost samples at 52 Hz
    assert gaps[0].duration_s == pytest.approx(lost_s, abs=2 / 208)


def test_polar_gyro_file_alone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / f"{SENSE}_GYRO.txt"
    shutil.copy(FIXTURES / path.name, path)
    with pytest.raises(InputError, match="without its accelerometer") as info:
        load_recording(path)
    assert str(path) in str(info.value) and f"{SENSE}_ACC.txt" in str(info.value)


def test_polar_bad_cell_names_line_and_column(tmp_path: Path) -> None:
    lines = _lines(H10_ACC)
    cells = lines[7].split(";")
    cells[3] = "n/a"
    lines[7] = ";".join(cells)
    path = tmp_path / H10_ACC.name
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        load_recording(path)
    assert str(path) in str(info.value) and "line 8, column 4 ('Y [mg]')" in str(info.value)
    assert info.value.found == "'n/a'"


# ------------------------------------------------------------------------------------------ MetaBase
def test_metabase_pairs_and_spreads_shared_stamps() -> None:
    rec = load_recording(FIXTURES / f"{MB}_Gyroscope.csv")
    assert rec.meta["format"] == "metabase" and rec.meta["samples_per_shared_stamp"] == 2
    assert rec.meta["device_id"] == "C8A1B2C3D4E5" and rec.meta["utc_offset"] == "+0100"
    dt = np.diff(rec.samples.t_s)
    assert np.all(dt > 0)
    # two samples per stamp, stamps 20 ms apart: spread to the 10 ms sample interval
    np.testing.assert_allclose(dt, 0.01, atol=1e-9)
    rows = [r.split(",") for r in _lines(FIXTURES / f"{MB}_Accelerometer.csv")[1:]]
    np.testing.assert_allclose(rec.samples.acc[1], np.array(rows[1][3:], float) * STANDARD_GRAVITY_MS2)
    gyr_rows = [r.split(",") for r in _lines(FIXTURES / f"{MB}_Gyroscope.csv")[1:]]
    np.testing.assert_allclose(rec.samples.gyr[:5], np.array([r[3:] for r in gyr_rows[:5]], float))


def test_metabase_android_header_acc_only() -> None:
    rec = load_recording(MB_ANDROID)
    assert not rec.samples.has_gyr and rec.meta["utc_offset"] == "01:00"
    assert rec.rate_hz == pytest.approx(50.0)


def test_metabase_wrong_axis_unit(tmp_path: Path) -> None:
    lines = _lines(MB_ANDROID)
    lines[0] = lines[0].replace("z-axis (g)", "z-axis (m/s^2)")
    path = tmp_path / MB_ANDROID.name
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="not the MetaBase columns") as info:
        load_recording(path)
    assert str(path) in str(info.value) and "z-axis (m/s^2)" in str(info.value)


def test_metabase_time_going_back(tmp_path: Path) -> None:
    lines = _lines(MB_ANDROID)
    lines[20], lines[21] = lines[21], lines[20]
    path = tmp_path / MB_ANDROID.name
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="time does not increase at line 22") as info:
        load_recording(path)
    assert str(path) in str(info.value)
