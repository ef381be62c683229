"""IMeasureU (Vicon Blue Thunder / IMU Step) CSV exports of the low-noise accelerometer.

Layout (comma-separated, one header line)::

    Accel_LN_X,Accel_LN_Y,Accel_LN_Z,System_Timestamp_Plot_Zeroed

acceleration in m/s² including gravity, time in milliseconds from the first sample. This is the layout of
``data/Sample_test_data.csv`` in github.com/alcantarar/Recurrent_GRF_Prediction (≈ 512 Hz); only these
columns are known, so the recording is acc-only.
"""

from __future__ import annotations

from pathlib import Path

from imu.errors import InputError
from imu.io.importers._tables import first_line, numeric_columns, read_table, require_increasing
from imu.samples import Recording, SampleBlock

FORMAT = "imeasureu"
DESCRIPTION = "IMeasureU CSV export: Accel_LN_X/Y/Z (m/s²), System_Timestamp_Plot_Zeroed (ms)"

_ACC = ("Accel_LN_X", "Accel_LN_Y", "Accel_LN_Z")
_TIME = "System_Timestamp_Plot_Zeroed"


def sniff(path: Path, head: bytes) -> bool:
    cells = [c.strip() for c in first_line(head).split(",")]
    return _ACC[0] in cells and any(c.startswith("System_Timestamp") for c in cells)


def read(path: Path) -> list[Recording]:
    frame = read_table(path)
    missing = [c for c in (*_ACC, _TIME) if c not in frame.columns]
    if missing:
        raise InputError(
            "missing columns " + ", ".join(missing),
            expected=",".join((*_ACC, _TIME)),
            found=",".join(frame.columns),
            where=path,
        )
    if len(frame) == 0:
        raise InputError("no samples after the header", expected="at least one line of data", where=path)
    t_s = numeric_columns(frame, [_TIME], where=path, first_line_no=2)[:, 0] / 1000.0
    require_increasing(t_s, where=path, first_line_no=2, column=_TIME)
    acc = numeric_columns(frame, _ACC, where=path, first_line_no=2)
    meta = {
        "format": FORMAT,
        "device": "IMeasureU Blue Thunder",
        "channels_note": "low-noise accelerometer only",
    }
    return [Recording.from_samples(SampleBlock(t_s, acc), str(path), meta=meta)]
