"""Polar Sensor Logger exports (Polar's Android app): one ``…_ACC.txt`` and, if recorded, one ``…_GYRO.txt``.

Layout (semicolon-separated text, one header line, one sample per line)::

    Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]
    Phone timestamp;sensor timestamp [ns];X [dps];Y [dps];Z [dps]

The phone timestamp is the phone's local wall clock at arrival (ISO text); the sensor timestamp is the
device clock in nanoseconds since 2000-01-01 (Polar BLE SDK, ``PolarAccelerometerData``: "The epoch of
timestamp is 1.1.2000"); acceleration is in millig including gravity, angular rate in deg/s. Files are named
``Polar_<model>_<device id>_<date>_<time>_<STREAM>.txt``. Layout facts from public code that writes or reads
these files (polarofficial/polar-ble-sdk's data model, and PSL-compatible writers found by searching for the
header ``Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]``); see tests/io/fixtures/README.md.

Time axis: the accelerometer's sensor timestamps, relative to its first sample (exact integer nanoseconds).
Pairing: given either file, the sibling is the same name with ``ACC`` ↔ ``GYRO`` swapped. The gyroscope
usually runs at another rate (e.g. 52 Hz next to 200 Hz acc on a Verity Sense), so it is linearly
interpolated onto the acc sample times on the shared device clock; acc samples outside the gyro's span or
inside a gyro gap are dropped (:func:`imu.io.importers._tables.align_onto`), their count in
``meta["acc_samples_dropped"]``. Without a GYRO file the recording is acc-only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
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

FORMAT = "polar-sensor-logger"
DESCRIPTION = "Polar Sensor Logger export: …_ACC.txt [+ …_GYRO.txt], ';'-separated, mg and deg/s"

_PREFIX = "Phone timestamp;sensor timestamp [ns];"
_TIME = "sensor timestamp [ns]"
_ACC = ("X [mg]", "Y [mg]", "Z [mg]")
_GYR = ("X [dps]", "Y [dps]", "Z [dps]")
_POLAR_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NAME = re.compile(r"Polar_(?P<model>[^_]+)_(?P<device_id>[^_]+)_")


def sniff(path: Path, head: bytes) -> bool:
    line = first_line(head)
    return line.startswith(_PREFIX) and ("[mg]" in line or "[dps]" in line)


def _read_stream(path: Path, columns: tuple[str, ...]) -> tuple[np.ndarray, FloatArray, str]:
    """(sensor ns int64, (N, 3) values, first phone timestamp) of one PSL file."""
    frame = read_table(path, sep=";", dtype=str)
    frame = frame.loc[
        :, [c for c in frame.columns if not (c.startswith("Unnamed:") and frame[c].isna().all())]
    ]
    expected = ["Phone timestamp", _TIME, *columns]
    if list(frame.columns) != expected:
        raise InputError(
            "not the Polar Sensor Logger columns",
            expected=";".join(expected),
            found=";".join(frame.columns),
            where=path,
        )
    if len(frame) == 0:
        raise InputError("no samples after the header", expected="at least one line of data", where=path)
    ns = integer_column(frame, _TIME, where=path, first_line_no=2)
    values = numeric_columns(frame, columns, where=path, first_line_no=2)
    return ns, values, str(frame["Phone timestamp"].iloc[0])


def read(path: Path) -> list[Recording]:
    with path.open("rb") as f:
        is_gyro = "[dps]" in first_line(f.read(HEAD_BYTES))
    acc_path, gyr_path = acc_and_gyro_paths(path, is_gyro=is_gyro, acc_token="ACC", gyr_token="GYRO")
    ns_acc, acc_mg, phone_start = _read_stream(acc_path, _ACC)
    ns0 = int(ns_acc[0])
    t_acc = (ns_acc - ns0) / 1e9
    require_increasing(t_acc, where=acc_path, first_line_no=2, column=_TIME)
    acc = acc_mg * (STANDARD_GRAVITY_MS2 / 1000.0)
    meta: dict[str, object] = {
        "format": FORMAT,
        "files": [str(acc_path)],
        "start_phone_time": phone_start,
        "start_device_time_utc": (_POLAR_EPOCH + timedelta(microseconds=ns0 // 1000)).isoformat(),
    }
    match = _NAME.match(acc_path.name)
    if match:
        meta["device"] = f"Polar {match['model']}"
        meta["device_id"] = match["device_id"]
    gyr = None
    if gyr_path is not None:
        ns_gyr, gyr_dps, _ = _read_stream(gyr_path, _GYR)
        t_gyr = (ns_gyr - ns0) / 1e9
        require_increasing(t_gyr, where=gyr_path, first_line_no=2, column=_TIME)
        found = f"ACC from {ns0} ns, GYRO {int(ns_gyr[0])}..{int(ns_gyr[-1])} ns"
        t_acc, acc, gyr = pair_gyro(t_acc, acc, t_gyr, gyr_dps, gyr_path=gyr_path, found=found, meta=meta)
    block = SampleBlock(t_acc, acc, gyr)
    return [Recording.from_samples(block, str(path), meta=meta)]
