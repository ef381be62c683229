"""MbientLab MetaBase CSV exports (MetaWear): one ``…_Accelerometer.csv``, optionally ``…_Gyroscope.csv``.

Layout (comma-separated, one header line)::

    epoc (ms),timestamp (-0800),elapsed (s),x-axis (g),y-axis (g),z-axis (g)       MetaBase iOS/macOS
    epoch (ms),time (01:00),elapsed (s),x-axis (g),y-axis (g),z-axis (g)           MetaBase Android, scripts
    …,x-axis (deg/s),y-axis (deg/s),z-axis (deg/s)                                  the gyroscope file

Unix time in ms, the local wall time (its UTC offset in the header), seconds since the first sample, then
the three axes in g (accelerometer, including gravity) or deg/s. Files are named
``<name>_<date>T<time>_<MAC>_<Sensor>.csv``. The first layout is that of the real exports in
mbientlab/MetaWear-MetaBase-iOS-macOS-App (``MetaBaseUnitTests/Assets/…_Accelerometer.csv``), the second
that of MbientLab's own export code and of other apps that write MetaBase-compatible files (see
tests/io/fixtures/README.md).

Time: MetaWear stamps each BLE packet once, so logged data repeat one millisecond stamp for the 2–3 samples
of a packet (visible in MbientLab's own test exports). Such a run of k equal stamps is spread forward from
its stamp at the recording's typical sample interval (the median of stamp step / run length), never past
the next stamp; a real gap between packets is left as a gap. Then the gyroscope is interpolated onto the
accelerometer's times as for Polar (:func:`imu.io.importers._tables.align_onto`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.io.importers._tables import (
    HEAD_BYTES,
    acc_and_gyro_paths,
    first_line,
    integer_column,
    numeric_columns,
    pair_gyro,
    read_table,
    require_increasing,
)
from imu.samples import FloatArray, Recording, SampleBlock

FORMAT = "metabase"
DESCRIPTION = "MbientLab MetaBase CSV export: …_Accelerometer.csv [+ …_Gyroscope.csv], g and deg/s"

_EPOCH = re.compile(r"epoch? \(ms\)")
_ZONE = re.compile(r"(?:time|timestamp) \((?P<offset>[^)]*)\)")
_ACC = ("x-axis (g)", "y-axis (g)", "z-axis (g)")
_GYR = ("x-axis (deg/s)", "y-axis (deg/s)", "z-axis (deg/s)")
_MAC = re.compile(r"_(?P<mac>[0-9A-Fa-f]{12})_(?:Accelerometer|Gyroscope)")


def sniff(path: Path, head: bytes) -> bool:
    cells = first_line(head).split(",")
    return len(cells) == 6 and bool(_EPOCH.fullmatch(cells[0])) and cells[3] in (_ACC[0], _GYR[0])


def _spread_shared_stamps(ms: np.ndarray) -> FloatArray:
    """Seconds from integer ms stamps, runs of equal stamps spread forward (see the module docstring)."""
    t = (ms - ms[0]) / 1000.0
    starts = np.flatnonzero(np.r_[True, np.diff(ms) != 0])
    if starts.shape[0] == ms.shape[0] or starts.shape[0] < 2:
        return t
    counts = np.diff(np.r_[starts, ms.shape[0]])
    step = np.diff(t[starts]) / counts[:-1]
    period = float(np.median(step))
    per_run = np.r_[np.minimum(period, step), period]
    within = np.arange(ms.shape[0]) - np.repeat(starts, counts)
    return t + within * np.repeat(per_run, counts)


def _read_stream(path: Path, columns: tuple[str, ...]) -> tuple[np.ndarray, FloatArray, str, int]:
    """(epoch ms, (N, 3) values, UTC offset text, samples per shared stamp) of one MetaBase file."""
    frame = read_table(path, dtype=str)
    names = list(frame.columns)
    zone = _ZONE.fullmatch(names[1]) if len(names) > 1 else None
    if len(names) != 6 or not _EPOCH.fullmatch(names[0]) or zone is None or names[3:] != list(columns):
        raise InputError(
            "not the MetaBase columns",
            expected="epoch (ms),time (±hh:mm),elapsed (s)," + ",".join(columns),
            found=",".join(names),
            where=path,
        )
    if len(frame) == 0:
        raise InputError("no samples after the header", expected="at least one line of data", where=path)
    ms = integer_column(frame, names[0], where=path, first_line_no=2)
    values = numeric_columns(frame, columns, where=path, first_line_no=2)
    shared = int(np.max(np.unique(ms, return_counts=True)[1]))
    return ms, values, zone["offset"], shared


def read(path: Path) -> list[Recording]:
    with path.open("rb") as f:
        is_gyro = _GYR[0] in first_line(f.read(HEAD_BYTES))
    acc_path, gyr_path = acc_and_gyro_paths(
        path, is_gyro=is_gyro, acc_token="Accelerometer", gyr_token="Gyroscope"
    )
    ms_acc, acc_g, offset, shared = _read_stream(acc_path, _ACC)
    t_acc = _spread_shared_stamps(ms_acc)
    require_increasing(t_acc, where=acc_path, first_line_no=2, column="epoch (ms)")
    acc = acc_g * STANDARD_GRAVITY_MS2
    meta: dict[str, object] = {
        "format": FORMAT,
        "device": "MbientLab MetaWear",
        "files": [str(acc_path)],
        "start_utc": datetime.fromtimestamp(int(ms_acc[0]) / 1000.0, tz=UTC).isoformat(),
        "utc_offset": offset,
        "samples_per_shared_stamp": shared,
    }
    match = _MAC.search(acc_path.name)
    if match:
        meta["device_id"] = match["mac"]
    gyr = None
    if gyr_path is not None:
        ms_gyr, gyr_dps, _, _ = _read_stream(gyr_path, _GYR)
        t_gyr = _spread_shared_stamps(ms_gyr) + (int(ms_gyr[0]) - int(ms_acc[0])) / 1000.0
        require_increasing(t_gyr, where=gyr_path, first_line_no=2, column="epoch (ms)")
        found = f"acc from {int(ms_acc[0])} ms, gyro {int(ms_gyr[0])}..{int(ms_gyr[-1])} ms"
        t_acc, acc, gyr = pair_gyro(t_acc, acc, t_gyr, gyr_dps, gyr_path=gyr_path, found=found, meta=meta)
    block = SampleBlock(t_acc, acc, gyr)
    return [Recording.from_samples(block, str(path), meta=meta)]
