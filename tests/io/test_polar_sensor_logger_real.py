"""The Polar Sensor Logger importer on a real Verity Sense export (fixtures/polar_sensor_logger_real)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imu.constants import STANDARD_GRAVITY_MS2
from imu.io.load import load_recording

FIXTURES = Path(__file__).parent / "fixtures" / "polar_sensor_logger_real"
ACC = FIXTURES / "Polar_Sense_A40F6F28_20220425_113903_ACC.txt"
GYRO = FIXTURES / "Polar_Sense_A40F6F28_20220425_113903_GYRO.txt"


def _rows(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()[1:]
    return np.array([[float(v) for v in line.split(";")[1:]] for line in lines])


def test_real_export_loads_as_one_six_axis_recording() -> None:
    rec = load_recording(ACC)
    assert rec.meta["format"] == "polar-sensor-logger"
    # the last ACC sample lies 21 µs after the last GYRO sample: no gyro to pair it with, so it is dropped
    assert len(rec.samples) == 59
    assert rec.meta["acc_samples_dropped"] == 1
    assert rec.samples.has_gyr
    # Verity Sense at its 52 Hz setting; the sensor clock runs at 19.34 ms per sample
    assert rec.rate_hz == pytest.approx(1e9 / 19_340_401, rel=1e-3)


def test_real_export_units_match_the_raw_lines() -> None:
    rec = load_recording(ACC)
    raw = _rows(ACC)[:59]
    np.testing.assert_allclose(rec.samples.acc, raw[:, 1:] / 1000.0 * STANDARD_GRAVITY_MS2)
    ns = np.array([int(line.split(";")[1]) for line in ACC.read_text().splitlines()[1:60]])
    np.testing.assert_allclose(rec.samples.t_s, (ns - ns[0]) / 1e9, atol=1e-9)
    # at rest on a forearm: |a| ≈ 1 g
    norm_g = np.linalg.norm(rec.samples.acc, axis=1) / STANDARD_GRAVITY_MS2
    assert 0.95 < float(np.median(norm_g)) < 1.05


def test_real_gyro_is_aligned_on_the_acc_clock() -> None:
    rec = load_recording(ACC)
    gyro = _rows(GYRO)
    t_gyr_s = (gyro[:, 0] - _rows(ACC)[0, 0]) / 1e9
    assert rec.samples.gyr is not None
    for axis in range(3):
        expected = np.interp(rec.samples.t_s, t_gyr_s, gyro[:, axis + 1])
        inside = (rec.samples.t_s >= t_gyr_s[0]) & (rec.samples.t_s <= t_gyr_s[-1])
        np.testing.assert_allclose(rec.samples.gyr[inside, axis], expected[inside], atol=1e-4)
    assert load_recording(GYRO).samples.acc.shape == rec.samples.acc.shape  # either file gives the pair
