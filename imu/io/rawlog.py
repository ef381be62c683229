"""The raw log: every notification exactly as received, append-only, crash-safe, self-synchronising.

Layout (little-endian)::

    file header  16 bytes  b"IMU-RAWLOG\\x00\\x00" + u16 format version (1) + u16 reserved (0)
    record       4 bytes   sync marker 8f 3c d1 5b
                 u16       payload length
                 i64       host receive time, ns (the caller's clock; sessions use Unix time)
                 u8        channel (which characteristic / stream the payload came from)
                 ...       payload
                 u32       CRC32 (zlib / IEEE 802.3) of everything above from the sync marker on

Why this shape: each record is written with one ``os.write`` on an ``O_APPEND`` descriptor, so once
:meth:`RawLogWriter.append` returns the bytes are in the operating system's page cache and survive the
process being killed (SIGKILL, a crash); a background thread ``fsync``\\ s at least once a second so at most
about a second is at risk on power loss, without ever blocking the caller (the BLE consumer) on the disk.
A record cut short by power loss (a torn tail) or damaged on disk fails its CRC; the reader then searches
for the next sync marker and carries on, reporting every skipped byte range — nothing valid is lost.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

from imu.errors import ImuError, InputError

FORMAT_VERSION: Final = 1
FILE_HEADER: Final = b"IMU-RAWLOG\x00\x00" + struct.pack("<HH", FORMAT_VERSION, 0)
SYNC: Final = b"\x8f\x3c\xd1\x5b"
_RECORD_HEADER: Final = struct.Struct("<4sHqB")
_CRC: Final = struct.Struct("<I")
RECORD_OVERHEAD: Final = _RECORD_HEADER.size + _CRC.size  # 19 bytes
MAX_PAYLOAD: Final = 0xFFFF


class RawRecord(NamedTuple):
    """One notification: where it starts in the file, when and on which channel it arrived, its bytes."""

    offset: int
    host_time_ns: int
    channel: int
    payload: bytes


@dataclass(frozen=True)
class SkippedRegion:
    """Bytes the reader could not read as records: ``reason`` is one of :data:`SKIP_REASONS`."""

    offset: int
    length: int
    reason: str


SKIP_REASONS: Final = ("bad file header", "corrupt record", "torn tail")


@dataclass
class RawLogReport:
    """What a read found: valid records, and every byte range it skipped (with why)."""

    path: str
    file_bytes: int = 0
    records: int = 0
    skipped: list[SkippedRegion] = field(default_factory=list)

    @property
    def skipped_bytes(self) -> int:
        return sum(r.length for r in self.skipped)

    @property
    def torn_tail_bytes(self) -> int:
        return sum(r.length for r in self.skipped if r.reason == "torn tail")

    @property
    def corrupt_regions(self) -> int:
        return sum(1 for r in self.skipped if r.reason != "torn tail")

    def _skip(self, offset: int, length: int, reason: str) -> None:
        last = self.skipped[-1] if self.skipped else None
        if last is not None and last.offset + last.length == offset and last.reason == reason:
            self.skipped[-1] = SkippedRegion(last.offset, last.length + length, reason)
        elif length > 0:
            self.skipped.append(SkippedRegion(offset, length, reason))


# ---------------------------------------------------------------------------------------------- writing
class RawLogWriter:
    """Appends records to a raw log (creating it with its file header when new or empty)."""

    def __init__(self, path: str | Path, *, fsync_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
        )
        if os.fstat(self._fd).st_size == 0:
            self._write(FILE_HEADER)
            os.fsync(self._fd)
        self._dirty = False
        self._stop = threading.Event()
        self._syncer = threading.Thread(
            target=self._sync_loop, args=(fsync_interval_s,), name="rawlog-fsync", daemon=True
        )
        self._syncer.start()

    def append(self, payload: bytes, host_time_ns: int, channel: int = 0) -> None:
        """Write one record through to the operating system (one ``os.write``) before returning."""
        if self._fd is None:
            raise ImuError(f"{self.path}: the raw log is closed")
        if len(payload) > MAX_PAYLOAD:
            raise InputError(
                "notification too long for the raw log",
                expected=f"≤ {MAX_PAYLOAD} bytes",
                found=f"{len(payload)} bytes",
                where=self.path,
            )
        if not 0 <= channel <= 0xFF:
            raise InputError("channel out of range", expected="0..255", found=str(channel), where=self.path)
        try:
            head = _RECORD_HEADER.pack(SYNC, len(payload), host_time_ns, channel) + payload
        except struct.error:
            raise InputError(
                "host time not storable",
                expected="an int of ns within ±2**63",
                found=repr(host_time_ns),
                where=self.path,
            ) from None
        self._write(head + _CRC.pack(zlib.crc32(head)))
        self._dirty = True

    def sync(self) -> None:
        """Force everything appended so far to the disk now."""
        if self._fd is not None:
            self._dirty = False
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is None:
            return
        self._stop.set()
        self._syncer.join()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RawLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:  # a regular file takes it all at once; the loop only guards against a short write
            view = view[os.write(self._fd, view) :]

    def _sync_loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            if self._dirty and self._fd is not None:
                self._dirty = False
                os.fsync(self._fd)


# ---------------------------------------------------------------------------------------------- reading
def iter_raw_log(path: str | Path, report: RawLogReport | None = None) -> Iterator[RawRecord]:
    """Every valid record in file order; skipped byte ranges are added to ``report`` as they are found."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("raw log missing", expected="a raw.log file", found="nothing", where=path) from None
    report = report if report is not None else RawLogReport(str(path))
    report.file_bytes = size = len(data)
    pos = len(FILE_HEADER)
    if not data.startswith(FILE_HEADER):
        if FILE_HEADER.startswith(data):  # killed while writing the header itself
            report._skip(0, size, "torn tail")
            return
        pos = data.find(SYNC)
        pos = size if pos < 0 else pos
        report._skip(0, pos, "bad file header")
    unpack_head = _RECORD_HEADER.unpack_from
    unpack_crc = _CRC.unpack_from
    crc32 = zlib.crc32
    head_size = _RECORD_HEADER.size
    while pos < size:
        end = -1
        if data.startswith(SYNC, pos) and pos + head_size <= size:
            _, length, host_time_ns, channel = unpack_head(data, pos)
            body_end = pos + head_size + length
            if body_end + 4 <= size and crc32(data[pos:body_end]) == unpack_crc(data, body_end)[0]:
                end = body_end + 4
        if end > 0:
            report.records += 1
            yield RawRecord(pos, host_time_ns, channel, data[pos + head_size : body_end])
            pos = end
            continue
        resync = data.find(SYNC, pos + 1)
        if resync < 0:
            report._skip(pos, size - pos, "torn tail")
            return
        report._skip(pos, resync - pos, "corrupt record")
        pos = resync


def read_raw_log(path: str | Path) -> tuple[list[RawRecord], RawLogReport]:
    """All valid records and the report of what was skipped."""
    report = RawLogReport(str(path))
    records = list(iter_raw_log(path, report))
    return records, report
