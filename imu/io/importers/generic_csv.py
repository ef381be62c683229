"""The project's generic CSV (DESIGN.md): ``t_s,acc_x,acc_y,acc_z[,gyr_x,gyr_y,gyr_z]``.

Seconds, m/s² including gravity, deg/s, sensor frame, any mounting. The header must name exactly these
columns (any order); the gyroscope columns are all present or all absent. The file is strict on purpose:
it is the format users convert *into*, so every deviation gets an error naming the line and the column
rather than a guess. Values in g (or mg, rad/s) are caught by :func:`imu.samples.check_units`.
"""

from __future__ import annotations

from pathlib import Path

from imu.constants import SENSOR_ACC_COLUMNS, SENSOR_GYR_COLUMNS, TIME_COLUMN
from imu.errors import InputError
from imu.io.importers._tables import first_line, header_cells, numeric_columns, read_table, require_increasing
from imu.samples import Recording, SampleBlock, check_units

FORMAT = "csv"
DESCRIPTION = "generic CSV: t_s,acc_x,acc_y,acc_z[,gyr_x,gyr_y,gyr_z] in s, m/s², deg/s"

_REQUIRED = (TIME_COLUMN, *SENSOR_ACC_COLUMNS)
_KNOWN = frozenset((*_REQUIRED, *SENSOR_GYR_COLUMNS))
_HEADER_LINE = 1


def sniff(path: Path, head: bytes) -> bool:
    """A comma-separated header whose first cell is ``t_s`` or that names any of our sensor columns."""
    cells = [c.strip().strip('"').lower() for c in first_line(head).split(",")]
    return len(cells) > 1 and (cells[0] == TIME_COLUMN or bool(_KNOWN.intersection(cells)))


def _check_header(columns: list[str], where: Path) -> bool:
    """Raise on missing, unexpected or duplicated columns; True when the gyroscope columns are present."""
    found = ",".join(columns)
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    missing = [c for c in _REQUIRED if c not in columns]
    unexpected = [f"{c!r} (column {i + 1})" for i, c in enumerate(columns) if c not in _KNOWN]
    gyr = [c for c in SENSOR_GYR_COLUMNS if c in columns]
    if duplicated or missing or unexpected or 0 < len(gyr) < 3:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if 0 < len(gyr) < 3:
            problems.append("missing " + ", ".join(c for c in SENSOR_GYR_COLUMNS if c not in columns))
        if unexpected:
            problems.append("unexpected " + ", ".join(unexpected))
        if duplicated:
            problems.append("repeated " + ", ".join(duplicated))
        raise InputError(
            "wrong columns in the header (line 1): " + "; ".join(problems),
            expected=",".join((*_REQUIRED, *SENSOR_GYR_COLUMNS)) + " (the gyr_* columns optional)",
            found=found,
            where=where,
        )
    return len(gyr) == 3


def read(path: Path) -> list[Recording]:
    frame = read_table(path)
    has_gyr = _check_header(header_cells(path), path)
    first = _HEADER_LINE + 1
    if len(frame) == 0:
        raise InputError("no samples after the header", expected="at least one line of numbers", where=path)
    t = numeric_columns(frame, [TIME_COLUMN], where=path, first_line_no=first)[:, 0]
    require_increasing(t, where=path, first_line_no=first, column=TIME_COLUMN)
    acc = numeric_columns(frame, SENSOR_ACC_COLUMNS, where=path, first_line_no=first)
    gyr = numeric_columns(frame, SENSOR_GYR_COLUMNS, where=path, first_line_no=first) if has_gyr else None
    block = SampleBlock(t, acc, gyr)
    check_units(block, where=str(path))
    return [Recording.from_samples(block, str(path), meta={"format": FORMAT})]


def write_generic_csv(recording: Recording, path: str | Path) -> Path:
    """Write a recording as generic CSV.

    ``%.17g`` is the shortest printf format that round-trips every float64 exactly, so reading the file back
    gives the same samples bit for bit.
    """
    out = Path(path)
    frame = recording.samples.to_frame()
    frame.to_csv(out, index=False, float_format="%.17g", lineterminator="\n")
    return out
