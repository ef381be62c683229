"""Generic CSV: lossless round trip, optional gyroscope, and errors naming the line and column of a defect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.io.importers.generic_csv import write_generic_csv
from imu.io.load import load_recording
from imu.samples import Recording, SampleBlock

HEADER6 = "t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"


def _recording(n: int = 200, *, gyr: bool = True, rate_hz: float = 100.0) -> Recording:
    rng = np.random.default_rng(7)
    t = np.arange(n) / rate_hz
    acc = rng.normal(0, 2, (n, 3)) + np.array([0, 0, STANDARD_GRAVITY_MS2])
    return Recording.from_samples(SampleBlock(t, acc, rng.normal(0, 50, (n, 3)) if gyr else None), "mem")


def _write(tmp_path: Path, text: str, name: str = "run.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(n: int = 60, rate_hz: float = 100.0) -> list[str]:
    return [f"{i / rate_hz},0.1,0.2,9.8,1,2,3" for i in range(n)]


@pytest.mark.parametrize("gyr", [True, False])
def test_round_trip_is_exact(tmp_path: Path, gyr: bool) -> None:
    original = _recording(gyr=gyr)
    path = write_generic_csv(original, tmp_path / "r.csv")
    back = load_recording(path)
    assert back.meta["format"] == "csv"
    np.testing.assert_array_equal(back.samples.t_s, original.samples.t_s)
    np.testing.assert_array_equal(back.samples.acc, original.samples.acc)
    assert back.samples.has_gyr is gyr
    if gyr:
        np.testing.assert_array_equal(back.samples.gyr, original.samples.gyr)
    assert back.rate_hz == pytest.approx(100.0)


def test_real_recording_round_trips(tmp_path: Path, shared_data: Path) -> None:
    real = load_recording(f"{shared_data}/voisard2023_L5_walking_subjects01-09/GaitData/2-3_lb.txt")
    back = load_recording(write_generic_csv(real, tmp_path / "real.csv"))
    np.testing.assert_array_equal(back.samples.acc, real.samples.acc)
    np.testing.assert_array_equal(back.samples.gyr, real.samples.gyr)
    assert len(back.gaps()) == len(real.gaps()) > 0


def test_columns_in_any_order(tmp_path: Path) -> None:
    lines = ["acc_z,t_s,acc_y,acc_x"] + [f"9.8,{i / 100},0.2,0.1" for i in range(50)]
    rec = load_recording(_write(tmp_path, "\n".join(lines)))
    assert rec.samples.acc[0].tolist() == [0.1, 0.2, 9.8]


def _error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_recording(path)
    assert str(path) in str(info.value)
    return info.value


def test_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    rows = _rows()
    rows[9] = "0.09,0.1,abc,9.8,1,2,3"
    err = _error(_write(tmp_path, "\n".join([HEADER6, *rows])))
    assert "line 11" in str(err) and "column 3" in str(err) and "'acc_y'" in str(err)
    assert err.found == "'abc'"


def test_truncated_last_line_names_the_empty_cell(tmp_path: Path) -> None:
    text = "\n".join([HEADER6, *_rows()])
    path = _write(tmp_path, text[: text.rindex(",")])  # cut inside the last line: gyr_z missing
    err = _error(path)
    assert "line 61" in str(err) and "'gyr_z'" in str(err) and err.found == "an empty cell"


def test_extra_field_on_a_line(tmp_path: Path) -> None:
    rows = _rows()
    rows[4] += ",99"
    err = _error(_write(tmp_path, "\n".join([HEADER6, *rows])))
    assert "line 6" in str(err) and "7 fields" in str(err)


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("t_s,acc_x,acc_y", "missing acc_z"),
        ("t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y", "missing gyr_z"),
        ("t_s,acc_x,acc_y,acc_z,temp_c", "unexpected 'temp_c' (column 5)"),
        ("t_s,acc_x,acc_Y,acc_z", "missing acc_y; unexpected 'acc_Y' (column 3)"),
        ("t_s,acc_x,acc_y,acc_z,acc_x", "repeated acc_x"),
    ],
)
def test_wrong_columns(tmp_path: Path, header: str, fragment: str) -> None:
    n_cols = header.count(",") + 1
    rows = [",".join([str(i / 100)] + ["9.8"] * (n_cols - 1)) for i in range(20)]
    err = _error(_write(tmp_path, "\n".join([header, *rows])))
    assert fragment in str(err)
    assert err.expected is not None and "t_s,acc_x,acc_y,acc_z" in err.expected
    assert err.found == header


def test_non_increasing_time_names_the_line(tmp_path: Path) -> None:
    rows = _rows()
    rows[30] = rows[29]
    err = _error(_write(tmp_path, "\n".join([HEADER6, *rows])))
    assert "line 32" in str(err) and err.found == "0.29"


def test_values_in_g_are_refused(tmp_path: Path) -> None:
    rows = [f"{i / 100},0.01,0.02,1.0" for i in range(100)]
    err = _error(_write(tmp_path, "\n".join(["t_s,acc_x,acc_y,acc_z", *rows])))
    assert "looks like g" in str(err) and "m/s²" in str(err)


def test_header_only(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, HEADER6 + "\n"))
    assert "no samples" in str(err)


def test_latin1_bytes_are_reported_with_their_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(("t_s,acc_x,acc_y,acc_z\n0,1,2,9.8\n0.01,1,2,9.8 \xb0\n").encode("latin-1"))
    err = _error(path)
    assert "not UTF-8" in str(err) and "0xb0" in str(err)
