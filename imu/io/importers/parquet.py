"""Parquet tables with the generic CSV's columns (``t_s``, ``acc_*``, optional ``gyr_*``).

This also reads a session's ``samples.parquet`` on its own. Parquet is typed, so there are no cells to
parse; other columns (a session's counters, flags) are ignored and listed in ``meta["ignored_columns"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from imu.constants import SENSOR_ACC_COLUMNS, SENSOR_GYR_COLUMNS, TIME_COLUMN
from imu.errors import InputError
from imu.io.importers._tables import require_increasing
from imu.samples import Recording, SampleBlock, check_units

FORMAT = "parquet"
DESCRIPTION = "Parquet table with columns t_s, acc_x..acc_z [, gyr_x..gyr_z] in s, m/s², deg/s"

_MAGIC = b"PAR1"


def sniff(path: Path, head: bytes) -> bool:
    return head.startswith(_MAGIC)


def _column(table: pa.Table, name: str, path: Path) -> np.ndarray:
    values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(
            f"bad value in column {name!r} at row {int(np.argmax(bad))} (0-based)",
            expected="a finite number",
            found=repr(values[int(np.argmax(bad))]),
            where=path,
        )
    return values


def read(path: Path) -> list[Recording]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            "unreadable Parquet file", expected="a complete Parquet file", found=str(exc), where=path
        ) from None
    names = list(table.column_names)
    missing = [c for c in (TIME_COLUMN, *SENSOR_ACC_COLUMNS) if c not in names]
    gyr_present = [c for c in SENSOR_GYR_COLUMNS if c in names]
    if missing or 0 < len(gyr_present) < 3:
        missing += [c for c in SENSOR_GYR_COLUMNS if gyr_present and c not in names]
        raise InputError(
            "missing columns " + ", ".join(missing),
            expected=", ".join((TIME_COLUMN, *SENSOR_ACC_COLUMNS)) + " [, gyr_x, gyr_y, gyr_z]",
            found=", ".join(names) or "no columns",
            where=path,
        )
    if table.num_rows == 0:
        raise InputError("no samples", expected="at least one row", where=path)
    t = _column(table, TIME_COLUMN, path)
    require_increasing(t, where=path, first_line_no=0, column=TIME_COLUMN, row_label="row (0-based)")
    acc = np.column_stack([_column(table, c, path) for c in SENSOR_ACC_COLUMNS])
    gyr = np.column_stack([_column(table, c, path) for c in SENSOR_GYR_COLUMNS]) if gyr_present else None
    block = SampleBlock(t, acc, gyr)
    check_units(block, where=str(path))
    used = {TIME_COLUMN, *SENSOR_ACC_COLUMNS, *gyr_present}
    meta: dict[str, object] = {"format": FORMAT}
    ignored = [c for c in names if c not in used]
    if ignored:
        meta["ignored_columns"] = ignored
    return [Recording.from_samples(block, str(path), meta=meta)]
