"""The session format: one folder per recording, lossless and crash-safe.

::

    SESSION/
      session.json      metadata (below), always replaced atomically (tmp file + os.replace)
      raw.log           every notification as received (imu.io.rawlog): the source of truth
      samples.parquet   decoded samples t_s, acc_x..z [m/s²], gyr_x..z [deg/s]; written on close / recover
      gaps.parquet      one row per gap: index, t_start_s, t_end_s, missing_samples
      truth/NAME.parquet  optional ground-truth tables (e.g. from the simulator)

``session.json`` holds ``format`` / ``format_version``, ``software`` (name, version), ``created_utc``,
``started_utc``, ``closed_utc`` (ISO 8601, UTC), ``device`` {protocol, name, address, firmware},
``settings`` (rate_hz, ranges...), ``mounting`` (null when unknown), ``channels`` {index: name},
``host_clock`` and ``status``: ``"recording"`` until closed, ``"closed"`` after a clean close,
``"recovered"`` after :func:`recover_session`. After close / recover it also summarises the samples, the
clock (loss, drift) and the raw log (records, skipped bytes).

Crash safety: the metadata is on disk before the first notification, and every notification is in the
operating system's hands before :meth:`SessionWriter.append` returns. Everything else (samples, gaps) is
derived from ``raw.log`` by the same code on close, on :func:`recover_session` and, for a session that was
never closed, on :func:`open_session`; so a recording killed at any moment loses nothing it acknowledged.
While a writer is open it holds an advisory lock on the folder, so a recovery cannot race a live recording.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

import imu
from imu.devices.base import DecodeError, SensorFrame
from imu.devices.registry import decoder_for
from imu.errors import ImuError, InputError, SessionError
from imu.io.rawlog import RawLogReport, RawLogWriter, iter_raw_log
from imu.link.clock import ClockStats, DeviceClock
from imu.samples import Gap, Recording, SampleBlock

try:
    import fcntl
except ImportError:  # not POSIX: no folder lock (the format itself does not depend on it)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

FORMAT_NAME: Final = "imu-session"
FORMAT_VERSION: Final = 1
META_FILE: Final = "session.json"
RAW_FILE: Final = "raw.log"
SAMPLES_FILE: Final = "samples.parquet"
GAPS_FILE: Final = "gaps.parquet"
TRUTH_DIR: Final = "truth"
STATUSES: Final = ("recording", "closed", "recovered")
_TRUTH_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_GAP_COLUMNS: Final = ("index", "t_start_s", "t_end_s", "missing_samples")
LINK_EVENT_CHANNEL: Final = 255
"""Raw-log channel of the link's own events (``connected``, ``disconnected``: ASCII), not device bytes.

The stream restarted there, so the clock places what follows after a gap (``DeviceClock.restart``) and the
decoder drops any half-received message (its ``reset()``, where it has one)."""


def _utc_iso(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with a Z; a naive datetime is taken to be UTC already."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_parquet_atomically(path: Path, table: pd.DataFrame) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_parquet(tmp, index=False)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_meta(folder: Path, meta: Mapping[str, Any]) -> None:
    _write_atomically(folder / META_FILE, json.dumps(meta, indent=2, allow_nan=False).encode())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# ------------------------------------------------------------------------------------------- rebuilding
@dataclass(frozen=True)
class _Rebuilt:
    samples: SampleBlock
    gaps: list[Gap]
    clock: ClockStats
    raw: RawLogReport
    decode_errors: int
    first_decode_error: str | None


def _rebuild(folder: Path, meta: Mapping[str, Any]) -> _Rebuilt:
    """Samples from raw.log via the decoder and the clock: the one path for close, recover and open."""
    settings = meta.get("settings") or {}
    decoder = decoder_for(str(meta["device"]["protocol"]), settings)
    rate = settings.get("rate_hz")
    clock = DeviceClock(rate_hz=float(rate) if isinstance(rate, int | float) else None)
    raw = RawLogReport(str(folder / RAW_FILE))
    errors: list[str] = []

    def notifications() -> Iterator[tuple[list[SensorFrame], int]]:
        for record in iter_raw_log(folder / RAW_FILE, raw):
            if record.channel == LINK_EVENT_CHANNEL:  # feed() consumes lazily: this lands between frames
                clock.restart()
                reset = getattr(decoder, "reset", None)
                if callable(reset):
                    reset()
                continue
            try:
                yield decoder.decode(record.payload, record.channel), record.host_time_ns
            except DecodeError as exc:
                errors.append(f"byte {record.offset}: {exc}")

    samples = clock.feed(notifications())
    if len(samples) == 0:
        samples = SampleBlock.empty(has_gyr=settings.get("gyr_range_dps", 0) is not None)
    if errors:
        log.warning("%s: %d notifications could not be decoded (first: %s)", folder, len(errors), errors[0])
    return _Rebuilt(samples, clock.gaps, clock.stats, raw, len(errors), errors[0] if errors else None)


def _derived_meta(rebuilt: _Rebuilt) -> dict[str, Any]:
    """What close and recover add to session.json."""
    s = rebuilt.samples
    clock = {k: _finite_or_none(v) if isinstance(v, float) else v for k, v in asdict(rebuilt.clock).items()}
    return {
        "samples": {
            "file": SAMPLES_FILE,
            "count": len(s),
            "duration_s": float(s.t_s[-1] - s.t_s[0]) if len(s) else 0.0,
            "has_gyr": s.has_gyr,
        },
        "gaps": {
            "file": GAPS_FILE,
            "count": len(rebuilt.gaps),
            "missing_samples": sum(g.missing_samples for g in rebuilt.gaps),
        },
        "clock": clock,
        "raw_log": {
            "file": RAW_FILE,
            "records": rebuilt.raw.records,
            "bytes": rebuilt.raw.file_bytes,
            "skipped_bytes": rebuilt.raw.skipped_bytes,
            "torn_tail_bytes": rebuilt.raw.torn_tail_bytes,
            "corrupt_regions": rebuilt.raw.corrupt_regions,
            "decode_errors": rebuilt.decode_errors,
        },
    }


def _write_derived(folder: Path, rebuilt: _Rebuilt) -> None:
    _write_parquet_atomically(folder / SAMPLES_FILE, rebuilt.samples.to_frame())
    gaps = pd.DataFrame([asdict(g) for g in rebuilt.gaps], columns=list(_GAP_COLUMNS))
    _write_parquet_atomically(folder / GAPS_FILE, gaps.astype({"index": "int64", "missing_samples": "int64"}))


def _recording(folder: Path, meta: dict[str, Any], samples: SampleBlock) -> Recording:
    rate = (meta.get("settings") or {}).get("rate_hz")
    truth = {p.stem: pd.read_parquet(p) for p in sorted((folder / TRUTH_DIR).glob("*.parquet"))}
    return Recording.from_samples(
        samples,
        str(folder),
        rate_hz=float(rate) if isinstance(rate, int | float) and rate > 0 else None,
        meta=meta,
        truth=truth,
    )


# ---------------------------------------------------------------------------------------------- writing
class SessionWriter:
    """A session being recorded: :meth:`create` it, feed :meth:`append`, finish with :meth:`close`."""

    def __init__(self, folder: Path, meta: dict[str, Any], raw: RawLogWriter, lock_fd: int | None) -> None:
        self.path = folder
        self.meta = meta
        self._raw: RawLogWriter | None = raw
        self._lock_fd = lock_fd

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        device: Mapping[str, Any],
        settings: Mapping[str, Any],
        mounting: Mapping[str, Any] | None = None,
        start_utc: datetime | None = None,
    ) -> SessionWriter:
        """Start a new session folder; refuses an existing non-empty one (a recording is never overwritten).

        ``device`` needs ``protocol`` (a key of :data:`imu.devices.registry.DECODERS`) and may hold ``name``,
        ``address``, ``firmware`` and ``channels`` ({index: name}, default ``{0: "data"}``).
        """
        folder = Path(path)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise SessionError(
                f"{folder}: refusing to record into an existing, non-empty path "
                "(a recording is never overwritten); choose a new folder"
            )
        if "protocol" not in device:
            raise InputError(
                "device without a protocol",
                expected="device['protocol']",
                found=", ".join(map(str, device)) or "no keys",
            )
        decoder_for(str(device["protocol"]), settings)  # unknown protocol: fail before creating anything
        device_meta = {"protocol": str(device["protocol"]), "name": None, "address": None, "firmware": None}
        device_meta.update({k: v for k, v in device.items() if k != "channels"})
        channels = {str(k): str(v) for k, v in (device.get("channels") or {0: "data"}).items()}
        meta: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "software": {"name": "imu", "version": imu.__version__},
            "created_utc": _utc_iso(),
            "started_utc": _utc_iso(start_utc),
            "closed_utc": None,
            "status": "recording",
            "device": device_meta,
            "settings": dict(settings),
            "mounting": dict(mounting) if mounting is not None else None,
            "channels": channels,
            "host_clock": "unix_ns",
        }
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(
                "session metadata is not JSON",
                expected="plain numbers, strings, lists, dicts",
                found=str(exc),
            ) from None
        folder.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(folder, exclusive=True)
        _write_meta(folder, meta)
        raw = RawLogWriter(folder / RAW_FILE)
        _fsync_dir(folder)
        return cls(folder, meta, raw, lock_fd)

    def append(self, payload: bytes, host_time_ns: int, channel: int = 0) -> None:
        """Log one notification as received (host time in Unix ns); on disk before this returns."""
        if self._raw is None:
            raise SessionError(f"{self.path}: the session is closed")
        self._raw.append(payload, host_time_ns, channel)

    def write_truth(self, name: str, table: pd.DataFrame) -> None:
        """Store a ground-truth table as ``truth/NAME.parquet`` (replacing one of the same name)."""
        if self._raw is None:
            raise SessionError(f"{self.path}: the session is closed")
        if not _TRUTH_NAME.match(name):
            raise InputError(
                "bad truth table name",
                expected="letters, digits, _ . - (not starting with . - _)",
                found=repr(name),
            )
        if not isinstance(table, pd.DataFrame):
            raise InputError(
                "truth table is not a DataFrame", expected="pandas.DataFrame", found=type(table).__name__
            )
        (self.path / TRUTH_DIR).mkdir(exist_ok=True)
        _write_parquet_atomically(self.path / TRUTH_DIR / f"{name}.parquet", table)

    def close(self) -> Recording:
        """Finish: flush the raw log, decode it, write samples and gaps, mark the session closed."""
        if self._raw is None:
            raise SessionError(f"{self.path}: the session is already closed")
        self._raw.close()
        self._raw = None
        try:
            rebuilt = _rebuild(self.path, self.meta)
            _write_derived(self.path, rebuilt)
            self.meta.update(_derived_meta(rebuilt))
            self.meta["status"] = "closed"
            self.meta["closed_utc"] = _utc_iso()
            _write_meta(self.path, self.meta)
        finally:
            _unlock(self._lock_fd)
            self._lock_fd = None
        return _recording(self.path, dict(self.meta), rebuilt.samples)

    @property
    def closed(self) -> bool:
        return self._raw is None

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self.closed:
            return
        try:
            self.close()
        except ImuError:
            if exc is None:
                raise
            log.exception(
                "%s: could not close the session (the raw log is intact; run imu recover)", self.path
            )


def _lock(folder: Path, *, exclusive: bool) -> int | None:
    """An advisory lock on the folder; None without fcntl. Raises SessionError when a live writer holds it."""
    if fcntl is None:
        return None
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SessionError(f"{folder}: the session is being recorded by a running process") from None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the lock


# ---------------------------------------------------------------------------------------------- reading
def is_session(path: str | Path) -> bool:
    """True for a folder holding a session.json of this format."""
    meta_path = Path(path) / META_FILE
    if not meta_path.is_file():
        return False
    try:
        return json.loads(meta_path.read_bytes()).get("format") == FORMAT_NAME
    except (ValueError, AttributeError, OSError):
        return False


def _read_meta(folder: Path) -> dict[str, Any]:
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise SessionError(f"{folder}: not a session (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_bytes())
    except ValueError as exc:
        raise SessionError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise SessionError(f"{meta_path}: not an imu session (format {found!r}, expected {FORMAT_NAME!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SessionError(
            f"{meta_path}: session format version {version!r} is newer than this imu "
            f"(reads up to {FORMAT_VERSION}); upgrade imu"
        )
    device = meta.get("device")
    if not isinstance(device, dict) or "protocol" not in device:
        raise SessionError(f"{meta_path}: device.protocol missing; cannot decode the raw log")
    return meta


def open_session(path: str | Path) -> Recording:
    """A session as a :class:`Recording`; an unclosed one (or one without samples) is rebuilt from raw.log."""
    folder = Path(path)
    meta = _read_meta(folder)
    samples_path = folder / SAMPLES_FILE
    if meta.get("status") != "recording" and samples_path.is_file():
        try:
            samples = SampleBlock.from_frame(pd.read_parquet(samples_path), where=str(samples_path))
            return _recording(folder, meta, samples)
        except (OSError, ValueError, InputError) as exc:
            log.warning("%s unreadable (%s); rebuilding the samples from %s", samples_path, exc, RAW_FILE)
    rebuilt = _rebuild(folder, meta)
    meta.update(_derived_meta(rebuilt))
    meta["rebuilt_from_raw_log"] = True
    return _recording(folder, meta, rebuilt.samples)


@dataclass(frozen=True)
class RecoveryReport:
    """What :func:`recover_session` found and wrote."""

    path: str
    previous_status: str
    records: int
    skipped_bytes: int
    torn_tail_bytes: int
    corrupt_regions: int
    decode_errors: int
    samples: int
    duration_s: float
    gaps: int
    missing_samples: int
    lost_packets: int

    def summary(self) -> str:
        lines = [
            f"{self.path}: recovered {self.samples} samples ({self.duration_s:.1f} s) from {self.records} "
            f"raw records (status was {self.previous_status!r})",
            f"  gaps: {self.gaps} ({self.missing_samples} samples missing, {self.lost_packets} packets lost)",
        ]
        if self.skipped_bytes or self.decode_errors:
            lines.append(
                f"  skipped: {self.torn_tail_bytes} torn bytes at the tail, "
                f"{self.skipped_bytes - self.torn_tail_bytes} bytes in {self.corrupt_regions} corrupt "
                f"regions, {self.decode_errors} undecodable notifications"
            )
        return "\n".join(lines)


def recover_session(path: str | Path) -> RecoveryReport:
    """Rebuild samples.parquet and gaps.parquet from raw.log (after a crash); mark the session recovered."""
    folder = Path(path)
    meta = _read_meta(folder)
    if not (folder / RAW_FILE).is_file():
        raise SessionError(f"{folder}: no {RAW_FILE} to recover from")
    lock_fd = _lock(folder, exclusive=True)
    try:
        rebuilt = _rebuild(folder, meta)
        _write_derived(folder, rebuilt)
        previous = str(meta.get("status"))
        meta.update(_derived_meta(rebuilt))
        meta["status"] = "recovered"
        meta["recovered_utc"] = _utc_iso()
        _write_meta(folder, meta)
    finally:
        _unlock(lock_fd)
    s = rebuilt.samples
    return RecoveryReport(
        path=str(folder),
        previous_status=previous,
        records=rebuilt.raw.records,
        skipped_bytes=rebuilt.raw.skipped_bytes,
        torn_tail_bytes=rebuilt.raw.torn_tail_bytes,
        corrupt_regions=rebuilt.raw.corrupt_regions,
        decode_errors=rebuilt.decode_errors,
        samples=len(s),
        duration_s=float(s.t_s[-1] - s.t_s[0]) if len(s) else 0.0,
        gaps=len(rebuilt.gaps),
        missing_samples=sum(g.missing_samples for g in rebuilt.gaps),
        lost_packets=rebuilt.clock.lost_packets,
    )
