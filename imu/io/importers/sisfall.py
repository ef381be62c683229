"""SisFall (Sucerquia et al. 2017) per-trial text files, read directly or from inside a ``.tar.xz``.

Each line holds nine raw integer readings separated by commas and ends with ``;``, at 200 Hz from a device
on the waist belt: columns 1–3 ADXL345 acceleration (13 bit, ±16 g → g = raw·32/8192), 4–6 ITG3200
angular rate (16 bit, ±2000 °/s → °/s = raw·4000/65536), 7–9 MMA8451Q acceleration (not used: one
accelerometer is enough, and the ADXL345 has the range running needs). Conversions from the SisFall
Readme ("Acceleration [g]: [(2*Range)/(2^Resolution)]*AD"). File names
``D<activity>_S<A|E><subject>_R<trial>.txt`` give the activity (D01–D04: walking slowly / quickly,
jogging slowly / quickly) and the age group (SA: 19–30 y, SE: 60–75 y). There is no gait-event ground truth.

An archive holds many trials: ``ARCHIVE.tar.xz`` gives all of them (sorted by member name),
``ARCHIVE.tar.xz#D03_SA01_R01.txt`` (or the member's full path) just one.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.io.importers._tables import first_line, numeric_columns, read_table
from imu.samples import Recording, SampleBlock

FORMAT = "sisfall"
DESCRIPTION = "SisFall trial .txt (9 raw columns, 200 Hz), alone or inside a .tar.xz (ARCHIVE#member)"

RATE_HZ = 200.0
ADXL345_G_PER_COUNT = 32 / 8192
ITG3200_DPS_PER_COUNT = 4000 / 65536
CITATION = (
    "Sucerquia A, López JD, Vargas-Bonilla JF. SisFall: A Fall and Movement Dataset. "
    "Sensors 17(1):198 (2017). doi:10.3390/s17010198"
)
ACTIVITIES = {
    "D01": "walking slowly",
    "D02": "walking quickly",
    "D03": "jogging slowly",
    "D04": "jogging quickly",
}

_XZ_MAGIC = b"\xfd7zXZ\x00"
_LINE = re.compile(r"\s*-?\d+(\s*,\s*-?\d+){8}\s*;\s*")
_NAME = re.compile(r"(?P<activity>[DF]\d\d)_(?P<subject>S[AE]\d\d)_(?P<trial>R\d\d)\.txt")
_MEMBERS_TO_PEEK = 8


def sniff(path: Path, head: bytes) -> bool:
    if head.startswith(_XZ_MAGIC):
        return path.name.lower().endswith((".tar.xz", ".txz")) and bool(_members(path, _MEMBERS_TO_PEEK))
    return bool(_LINE.fullmatch(first_line(head)))


def _members(path: Path, limit: int | None = None) -> list[str]:
    """Names of SisFall trial files in an archive (the first ``limit`` entries only, if given)."""
    names = []
    try:
        with tarfile.open(path, "r|xz") as tar:
            for n, info in enumerate(tar):
                if limit is not None and n >= limit:
                    break
                if info.isfile() and _NAME.fullmatch(Path(info.name).name):
                    names.append(info.name)
    except (tarfile.TarError, OSError, EOFError):
        return names
    return names


def _recording(text: str, source: str, name: str) -> Recording:
    frame = read_table(Path(source), header=None, text=text.replace(";", ""))
    if frame.shape[1] != 9:
        raise InputError(
            "wrong number of columns",
            expected="9 comma-separated readings per line",
            found=f"{frame.shape[1]}",
            where=source,
        )
    raw = numeric_columns(frame, list(frame.columns[:6]), where=source, first_line_no=1)
    acc = raw[:, :3] * (ADXL345_G_PER_COUNT * STANDARD_GRAVITY_MS2)
    gyr = raw[:, 3:6] * ITG3200_DPS_PER_COUNT
    meta: dict[str, object] = {
        "format": FORMAT,
        "device": "SisFall logger: ADXL345 accelerometer + ITG3200 gyroscope",
        "placement": "waist (belt)",
        "licence": "research use; no licence given by the authors (do not redistribute)",
        "citation": CITATION,
        "axes": {"acc_y": "vertical (about −1 g when upright)"},
    }
    match = _NAME.fullmatch(Path(name).name)
    if match:
        meta["activity"] = ACTIVITIES.get(match["activity"], match["activity"])
        meta["trial"] = {
            "activity_code": match["activity"],
            "subject": match["subject"],
            "repetition": match["trial"],
        }
        meta["age_group"] = "19–30 y" if match["subject"].startswith("SA") else "60–75 y"
    block = SampleBlock(np.arange(len(frame)) / RATE_HZ, acc, gyr)
    return Recording.from_samples(block, source, rate_hz=RATE_HZ, meta=meta)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise InputError(
            "not a SisFall text file", expected="ASCII text", found=f"byte at offset {exc.start}", where=where
        ) from None


def read(path: Path) -> list[Recording]:
    with path.open("rb") as f:
        is_archive = f.read(len(_XZ_MAGIC)) == _XZ_MAGIC
    if not is_archive:
        return [_recording(_decode(path.read_bytes(), str(path)), str(path), path.name)]
    recordings = []
    try:
        # one streaming pass: seeking back in an .xz archive decompresses again from its start
        with tarfile.open(path, "r|xz") as tar:
            for m in tar:
                if not (m.isfile() and _NAME.fullmatch(Path(m.name).name)):
                    continue
                data = tar.extractfile(m)
                if data is not None:
                    source = f"{path}#{m.name}"
                    recordings.append(_recording(_decode(data.read(), source), source, m.name))
        recordings.sort(key=lambda r: r.source)
    except (tarfile.TarError, EOFError) as exc:
        raise InputError(
            "unreadable archive", expected="a complete .tar.xz", found=str(exc), where=path
        ) from None
    return recordings


def read_member(path: Path, member: str) -> list[Recording]:
    """One trial from an archive, by its full member path or its file name."""
    try:
        with tarfile.open(path, "r:xz") as tar:
            for info in tar:
                if info.isfile() and member in (info.name, Path(info.name).name):
                    data = tar.extractfile(info)
                    if data is None:
                        break
                    source = f"{path}#{info.name}"
                    return [_recording(_decode(data.read(), source), source, info.name)]
    except (tarfile.TarError, EOFError) as exc:
        raise InputError(
            "unreadable archive", expected="a complete .tar.xz", found=str(exc), where=path
        ) from None
    raise InputError(
        "no such trial in the archive",
        expected="a member such as D03_SA01_R01.txt",
        found=repr(member),
        where=path,
    )
