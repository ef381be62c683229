"""Open any supported recording: a session folder or a file in one of the importers' formats.

``load_recordings(PATH)`` returns every recording PATH holds; a multi-trial file gives several. Suffixes
select: ``FILE#3`` is the file's 3rd recording (1-based), ``ARCHIVE#member`` one member of an archive (for
importers that define ``read_member``), and both combine (``ARCHIVE#member#1``). ``load_recording`` insists
on exactly one and says how to select otherwise.

Dispatch: a folder is opened by :mod:`imu.io.session` when it is a session; a file goes to the first
importer in :data:`IMPORTERS` whose ``sniff`` recognises its name and first 4 KiB. Every recording that
comes back is checked for samples and plausible units (m/s², deg/s) before anyone sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from imu.errors import InputError, UnsupportedFormatError
from imu.io.importers import (
    alcantara2022,
    cwa,
    gaitpy_csv,
    geneactiv,
    generic_csv,
    imeasureu,
    metabase,
    parquet,
    polar_sensor_logger,
    sisfall,
    skdh_npz,
    voisard2023,
)
from imu.io.importers._tables import HEAD_BYTES
from imu.samples import Recording

IMPORTERS: tuple[ModuleType, ...] = (
    # Order matters only where two sniffers could both say yes: specific layouts before general ones.
    # Binary device formats recognise magic bytes and can go anywhere; add new modules on their own line.
    parquet,
    polar_sensor_logger,
    metabase,
    imeasureu,
    voisard2023,
    sisfall,
    alcantara2022,
    cwa,
    geneactiv,
    skdh_npz,
    gaitpy_csv,
    generic_csv,
)
"""Importer modules (see :mod:`imu.io.importers` for what each defines), tried in this order."""

_INDEX = re.compile(r"(?P<base>.+)#(?P<index>\d+)")


def supported_formats() -> str:
    """One line per importer: ``FORMAT: DESCRIPTION``."""
    return "\n".join(f"{m.FORMAT}: {m.DESCRIPTION}" for m in IMPORTERS)


def _parse(spec: str | Path) -> tuple[Path, str | None, int | None]:
    """Split ``PATH[#member][#N]`` into the path, the member and the 1-based index (a real file wins)."""
    text = str(spec)
    index = None
    match = _INDEX.fullmatch(text)
    if match and not Path(text).exists():
        text, index = match["base"], int(match["index"])
    member = None
    if "#" in text and not Path(text).exists():
        base, _, rest = text.partition("#")
        if Path(base).is_file():
            text, member = base, rest
    return Path(text), member, index


def _looks_utf16_without_bom(head: bytes) -> bool:
    """ASCII text stored as UTF-16: every other byte zero, the others printable."""
    for text, zeros in ((head[0::2], head[1::2]), (head[1::2], head[0::2])):
        printable = sum(32 <= b < 127 or b in b"\t\r\n" for b in text)
        if len(zeros) > 8 and zeros.count(0) > 0.9 * len(zeros) and printable > 0.9 * len(text):
            return True
    return False


def _describe_head(head: bytes) -> str:
    """What a file that no importer recognises looks like, for the error message."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16_without_bom(head):
        return "UTF-16 text (re-save the file as UTF-8)"
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return f"binary data starting {head[:8].hex(' ')}"
    if "\x00" in text:
        return f"binary data starting {head[:8].hex(' ')}"
    line = text.splitlines()[0] if text.strip() else ""
    return f"text starting {line[:80]!r}"


def _importer_for(path: Path) -> ModuleType:
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        raise InputError("the file is empty", expected="a recording", found="0 bytes", where=path)
    for module in IMPORTERS:
        if module.sniff(path, head):
            return module
    raise UnsupportedFormatError(
        "unrecognised file format",
        expected="a supported format: "
        + ", ".join(m.FORMAT for m in IMPORTERS)
        + f" (simplest: {generic_csv.DESCRIPTION})",
        found=_describe_head(head),
        where=path,
    )


def _open_session(path: Path) -> list[Recording] | None:
    """The session at ``path`` as a list, or None when it is not a session (or sessions are unavailable)."""
    try:
        from imu.io import session
    except ImportError:
        return None
    if not session.is_session(path):
        return None
    return [session.open_session(path)]


def _read(path: Path, member: str | None) -> list[Recording]:
    if path.is_dir():
        recordings = _open_session(path)
        if recordings is None:
            raise InputError(
                "a folder that is not a session",
                expected="a session folder written by `imu record` / `imu simulate`, or a recording file",
                found="a folder without the session files",
                where=path,
            )
        return recordings
    if not path.exists():
        raise InputError("no such file or folder", expected="an existing path", where=path)
    importer = _importer_for(path)
    if member is None:
        read: Callable[[Path], list[Recording]] = importer.read
        return read(path)
    read_member = getattr(importer, "read_member", None)
    if read_member is None:
        raise InputError(
            f"a '#{member}' suffix, but {importer.FORMAT} files have no members",
            expected="PATH or PATH#N (the N-th recording)",
            found=f"#{member}",
            where=path,
        )
    members: list[Recording] = read_member(path, member)
    return members


def _validated(recordings: list[Recording], where: Path) -> list[Recording]:
    for recording in recordings:
        if len(recording.samples) == 0:
            raise InputError("no samples", expected="at least one sample", where=recording.source)
        recording.check_units()
        recording.meta.setdefault("format", "session")
    if not recordings:
        raise InputError("no recordings found", expected="at least one recording", where=where)
    return recordings


def load_recordings(path: str | Path) -> list[Recording]:
    """Every recording at ``path`` (``PATH``, ``PATH#N``, ``ARCHIVE#member``; see the module docstring)."""
    file_path, member, index = _parse(path)
    recordings = _validated(_read(file_path, member), file_path)
    if index is None:
        return recordings
    if not 1 <= index <= len(recordings):
        raise InputError(
            f"no recording #{index}",
            expected=f"#1 to #{len(recordings)}",
            found=f"#{index}",
            where=file_path,
        )
    return [recordings[index - 1]]


def load_recording(path: str | Path) -> Recording:
    """Exactly one recording; several raise, saying how to select one (``PATH#N``)."""
    recordings = load_recordings(path)
    if len(recordings) != 1:
        raise InputError(
            f"holds {len(recordings)} recordings",
            expected=f"exactly one; select it with {path}#N (N = 1..{len(recordings)})",
            found=", ".join(r.source for r in recordings[:3]) + (", …" if len(recordings) > 3 else ""),
            where=str(path),
        )
    return recordings[0]
