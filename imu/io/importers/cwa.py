"""Axivity AX3 / AX6 ``.cwa`` files: the OpenMovement continuous-wave-accelerometry binary format.

Written from the published format description (facts, not code): OpenMovement's ``Docs/ax3/cwa.h``
("Structure of a .CWA binary file", github.com/openmovementproject/openmovement, formerly
digitalinteraction/openmovement) and the field notes of OpenMovement's reference loader
(github.com/openmovementproject/openmovement-python, ``src/openmovement/load/cwa_load.py``).

Layout (all little-endian, tightly packed):

- A 1024-byte header block at offset 0: ``"MD"``, packet length 1020 (so the data start at 1024),
  hardware type @4 (0x00/0xff/0x17 AX3, 0x64 AX6), device id @5 (+ upper word @11 unless 0xffff),
  session id @7, sensor config @35 (AX6: low nibble n → gyro range 8000/2^n deg/s), rate code @36,
  firmware @41, and url-encoded ``name=value&…`` annotations @64..512 (``_p`` is the body location).
- Then 512-byte data blocks ``"AX"``, packet length 508: device-fractional @4 (top bit set: the low
  15 bits are a fraction of a second of the time stamp), session id @6, sequence id @10, packed date-time
  @14 (``YYYYYYMM MMDDDDDh hhhhmmmm mmssssss``, year − 2000), light+scales @18 (``AAAGGGLLLLLLLLLL``:
  accel 1/2^(8+A) g per count, gyro range 8000/2^G deg/s over ±32768 counts), events @22 (bit 0: logging
  resumed), rate code @24 (rate 3200 / 2^(15 − (code & 15)) Hz, range ±16 >> (code >> 6) g),
  axes/packing @25 (high nibble 3 = Axyz, 6 = Gxyz+Axyz, 9 = +Mxyz; low nibble 0 = one 32-bit word per
  sample holding three 10-bit signed values and a 2-bit left-shift exponent ``eezzzzzz zzzzyyyy yyyyyyxx
  xxxxxxxx``, 2 = 16-bit signed per axis), timestamp offset @26 (int16: the sample index within the block
  at which the whole-second time stamp is valid), sample count @28, 480 bytes of samples @30, and a
  checksum @510 such that the 16-bit word-wise sum of the whole block is zero.
- With a fraction present the device had shifted the timestamp offset by ``fraction16 * rate >> 16``
  samples for readers that ignore the fraction; we undo that shift and use the fractional time stamp
  (``fraction16 = (low 15 bits) << 1``, seconds = fraction16 / 65536).

Time stamps are the device's real-time clock, so its sampling rate is measured, not assumed: within a run
of consecutive blocks (sequence id +1, same session and configuration, no "logging resumed" flag) the
sample times are interpolated between the per-block (sample index, time) anchors, which follows the true
rate (the AX3 sample file, set to 200 Hz, samples at 197.2 Hz by its own clock). Runs are broken where
a block is missing or fails its checksum (those samples are lost and stay a gap; such blocks are counted
in ``meta``), or where the clock jumps. A file whose configuration changes, or whose clock goes
backwards, yields several recordings. The clock has no time zone, so ``meta["start_time"]`` is the
device's wall-clock time.

Everything runs on whole arrays (one ``np.frombuffer`` over all blocks); Python loops only visit runs of
blocks, never samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import numpy as np
from numpy.typing import NDArray

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.samples import Recording, SampleBlock

FORMAT: Final = "cwa"
DESCRIPTION: Final = "Axivity AX3/AX6 .cwa binary (OpenMovement format): accelerometer, AX6 also gyroscope"

SECTOR_BYTES: Final = 512
HEADER_MAGIC: Final = b"MD"
DATA_MAGIC: Final = b"AX"
DATA_PACKET_LENGTH: Final = 508
SAMPLE_BYTES: Final = 480

_HARDWARE: Final = {0x00: "Axivity AX3", 0xFF: "Axivity AX3", 0x17: "Axivity AX3", 0x64: "Axivity AX6"}

RATE_TOLERANCE: Final = 0.25
"""Between two block anchors of one run the implied rate must be within ±25 % of the configured rate;
real oscillators are within a few per cent, so more means the clock was set or jumped (a new run)."""

_BLOCK_DTYPE: Final = np.dtype(
    [
        ("magic", "S2"),
        ("packet_length", "<u2"),
        ("device_fractional", "<u2"),
        ("session_id", "<u4"),
        ("sequence_id", "<u4"),
        ("timestamp", "<u4"),
        ("light_scale", "<u2"),
        ("temperature", "<u2"),
        ("events", "u1"),
        ("battery", "u1"),
        ("rate_code", "u1"),
        ("axes_packing", "u1"),
        ("timestamp_offset", "<i2"),
        ("sample_count", "<u2"),
        ("samples", f"V{SAMPLE_BYTES}"),
        ("checksum", "<u2"),
    ]
)
assert _BLOCK_DTYPE.itemsize == SECTOR_BYTES


def sniff(path: Path, head: bytes) -> bool:
    """A ``.cwa`` name (so that a damaged file gets this reader's specific error) or an ``MD`` header."""
    return path.suffix.lower() == ".cwa" or (head[:2] == HEADER_MAGIC and head[1024:1026] == DATA_MAGIC)


def read(path: Path) -> list[Recording]:
    """Every recording in a ``.cwa`` file (usually one), acc m/s² incl. gravity, gyr deg/s, sensor frame."""
    path = Path(path)
    data = path.read_bytes()
    header = _read_header(data, path)
    body_offset = min(header["header_bytes"], len(data))
    n_blocks = max(0, (len(data) - body_offset) // SECTOR_BYTES)
    truncated_bytes = max(0, len(data) - body_offset - n_blocks * SECTOR_BYTES)
    blocks = np.frombuffer(data, dtype=_BLOCK_DTYPE, count=n_blocks, offset=body_offset)
    words = np.frombuffer(data, dtype="<u2", count=n_blocks * SECTOR_BYTES // 2, offset=body_offset)
    checksum_ok = words.reshape(n_blocks, SECTOR_BYTES // 2).sum(axis=1, dtype=np.uint16) == 0

    is_data = (blocks["magic"] == DATA_MAGIC) & (blocks["packet_length"] == DATA_PACKET_LENGTH)
    layout = _Layout.of(blocks, header["gyr_range_dps"])
    unix_s, time_ok = _unix_seconds(blocks["timestamp"])
    usable = is_data & checksum_ok & layout.supported & time_ok & (blocks["sample_count"] <= layout.capacity)
    counts = {
        "blocks_total": int(n_blocks),
        "blocks_decoded": int(np.count_nonzero(usable)),
        "blocks_skipped_checksum": int(np.count_nonzero(is_data & ~checksum_ok)),
        "blocks_skipped_not_data": int(np.count_nonzero(~is_data)),
        "blocks_skipped_unreadable": int(np.count_nonzero(is_data & checksum_ok & ~usable)),
        "truncated_tail_bytes": int(truncated_bytes),
    }
    if not np.any(usable):
        raise InputError(
            "no readable data blocks",
            expected="512-byte 'AX' data blocks with valid checksums after the 1024-byte header",
            found=(
                f"{n_blocks} blocks: {counts['blocks_skipped_checksum']} with bad checksums, "
                f"{counts['blocks_skipped_not_data']} not data, "
                f"{counts['blocks_skipped_unreadable']} unreadable; "
                f"{truncated_bytes} trailing bytes"
            ),
            where=path,
        )

    idx = np.flatnonzero(usable)
    good = blocks[idx]
    rate_hz = layout.rate_hz[idx]
    frac16 = np.where(
        good["device_fractional"] & 0x8000, (good["device_fractional"] & 0x7FFF).astype(np.int64) << 1, 0
    )
    epoch_s = float(unix_s[idx[0]])  # times relative to a whole second keep float64 at sub-µs resolution
    anchor_t = (unix_s[idx] - epoch_s) + frac16 / 65536.0
    anchor_offset = good["timestamp_offset"].astype(np.int64) + ((frac16 * rate_hz.astype(np.int64)) >> 16)
    count = good["sample_count"].astype(np.int64)

    config = np.stack([good["session_id"], good["rate_code"], good["axes_packing"]], axis=1).astype(np.int64)
    config_change = np.r_[True, np.any(np.diff(config, axis=0) != 0, axis=1)]
    run_start = (
        config_change
        | np.r_[True, (np.diff(idx) != 1) | (np.diff(good["sequence_id"].astype(np.int64)) != 1)]
        | (good["events"] & 1).astype(bool)
    )
    recordings: list[Recording] = []
    for cfg in np.split(np.arange(idx.size), np.flatnonzero(config_change)[1:]):
        acc, gyr = layout.decode(good[cfg], idx[cfg])
        pieces = _timed_runs(cfg, run_start, anchor_t, anchor_offset, count, rate_hz)
        for part in _monotonic_parts(pieces):
            t = np.concatenate([p[1] for p in part])
            rows = np.concatenate([p[0] for p in part])
            a, g = _valid_samples(acc, gyr, rows - cfg[0], count[rows])
            first = int(rows[0])
            meta = {
                **header["meta"],
                **counts,
                "configured_rate_hz": float(rate_hz[first]),
                "acc_range_g": int(16 >> (int(good["rate_code"][first]) >> 6)),
                "start_time": _iso(epoch_s + float(t[0])),
                "start_time_zone": "device clock (time zone not recorded)",
                "start_unix_s": epoch_s + float(t[0]),
            }
            if g is not None:
                meta["gyr_range_dps"] = float(layout.gyr_range_dps[idx[first]])
            samples = SampleBlock(t - t[0], a * STANDARD_GRAVITY_MS2, g)
            recordings.append(Recording.from_samples(samples, str(path), meta=meta))
    return recordings


# ---------------------------------------------------------------------------------------------- header
def _read_header(data: bytes, path: Path) -> dict[str, Any]:
    if len(data) < 1024 or data[:2] != HEADER_MAGIC:
        raise InputError(
            "not an Axivity CWA file",
            expected="a 1024-byte header block starting with 'MD' (OpenMovement .cwa)",
            found=f"{len(data)} bytes starting with {data[:8]!r}",
            where=path,
        )
    packet_length = int.from_bytes(data[2:4], "little")
    header_bytes = -(-(packet_length + 4) // SECTOR_BYTES) * SECTOR_BYTES
    hardware = data[4]
    device_id = int.from_bytes(data[5:7], "little")
    upper = int.from_bytes(data[11:13], "little")
    if upper != 0xFFFF:
        device_id |= upper << 16
    annotation = dict(parse_qsl(data[64:512].rstrip(b"\x20\x00\xff").decode("ascii", "replace")))
    meta: dict[str, Any] = {
        "format": FORMAT,
        "device": _HARDWARE.get(hardware, f"Axivity (hardware type 0x{hardware:02x})"),
        "device_id": device_id,
        "session_id": int.from_bytes(data[7:11], "little"),
        "firmware": int(data[41]),
    }
    if annotation:
        meta["annotation"] = annotation
    if annotation.get("_p"):
        meta["placement"] = annotation["_p"]
    config = data[35]  # AX6: low nibble n → gyro range 8000 / 2^n deg/s; 0x00 / 0xff: accelerometer only
    gyr_range_dps = 8000.0 / (1 << (config & 0x0F)) if config not in (0x00, 0xFF) else float("nan")
    return {"header_bytes": header_bytes, "gyr_range_dps": gyr_range_dps, "meta": meta}


# ---------------------------------------------------------------------------------------------- samples
@dataclass(frozen=True)
class _Layout:
    """Per-block sample layout and scales, all as arrays over blocks."""

    axes: NDArray[np.int64]
    packing: NDArray[np.int64]
    rate_hz: NDArray[np.float64]
    counts_per_g: NDArray[np.float64]
    gyr_range_dps: NDArray[np.float64]
    supported: NDArray[np.bool_]
    capacity: NDArray[np.int64]

    @classmethod
    def of(cls, blocks: NDArray[Any], header_gyr_range_dps: float) -> _Layout:
        """``header_gyr_range_dps`` (NaN if none) stands in where a block does not state its gyro scale."""
        axes = (blocks["axes_packing"] >> 4).astype(np.int64)
        packing = (blocks["axes_packing"] & 0x0F).astype(np.int64)
        code = blocks["rate_code"].astype(np.int64)
        rate_hz = 3200.0 / (1 << (15 - (code & 0x0F)))
        scale = blocks["light_scale"].astype(np.int64)
        counts_per_g = (1 << (8 + (scale >> 13))).astype(np.float64)
        gyr_code = (scale >> 10) & 0x07
        gyr_range_dps = np.where(gyr_code > 0, 8000.0 / (1 << gyr_code), header_gyr_range_dps)
        packed = (packing == 0) & (axes == 3)
        unpacked = (packing == 2) & np.isin(axes, (3, 6, 9))
        bytes_per_sample = np.where(packed, 4, np.maximum(axes, 1) * 2)
        # rate code 0 is the very first firmware's layout (rate in the offset field): not supported
        supported = (packed | unpacked) & (code != 0) & ((axes < 6) | np.isfinite(gyr_range_dps))
        return cls(
            axes, packing, rate_hz, counts_per_g, gyr_range_dps, supported, SAMPLE_BYTES // bytes_per_sample
        )

    def decode(
        self, good: NDArray[Any], idx: NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Acceleration in g and angular rate in deg/s, shape (blocks, capacity, 3), for one layout."""
        raw = np.ascontiguousarray(good["samples"]).view(np.uint8).reshape(idx.size, SAMPLE_BYTES)
        axes = int(self.axes[idx[0]])
        if self.packing[idx[0]] == 0:
            words = raw.view("<u4")
            exponent = (words >> 30).astype(np.int32)
            g_per_count = 1.0 / self.counts_per_g[idx, None]
            acc = np.empty((*words.shape, 3))
            for axis, shift in enumerate((0, 10, 20)):  # three whole-array passes, one per axis
                value = ((words >> shift) & 0x3FF).astype(np.int32)
                np.multiply(((value ^ 0x200) - 0x200) << exponent, g_per_count, out=acc[..., axis])
            return acc, None
        values = raw.view("<i2").reshape(idx.size, -1, axes).astype(np.float64)
        if axes == 3:
            return values / self.counts_per_g[idx, None, None], None
        gyr = values[..., 0:3] * (self.gyr_range_dps[idx, None, None] / 32768.0)
        acc = values[..., 3:6] / self.counts_per_g[idx, None, None]
        return acc, gyr


def _valid_samples(
    acc: NDArray[np.float64],
    gyr: NDArray[np.float64] | None,
    local: NDArray[np.int64],
    count: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """The first ``count`` samples of the chosen blocks as (N, 3) arrays (no copy in the common full case)."""
    whole = local.size == acc.shape[0]  # ``local`` is ascending and unique: same size means every block
    full = bool(np.all(count == acc.shape[1]))
    mask = np.arange(acc.shape[1])[None, :] < count[:, None]

    def take(x: NDArray[np.float64]) -> NDArray[np.float64]:
        chosen = x if whole else x[local]
        return chosen.reshape(-1, 3) if full else chosen[mask]

    return take(acc), None if gyr is None else take(gyr)


def _unix_seconds(packed: NDArray[np.uint32]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Unix seconds of packed CWA date-times (``YYYYYYMM MMDDDDDh hhhhmmmm mmssssss``) and which are valid."""
    v = packed.astype(np.int64)
    year = ((v >> 26) & 0x3F) + 2000
    month = (v >> 22) & 0x0F
    day = (v >> 17) & 0x1F
    hour, minute, second = (v >> 12) & 0x1F, (v >> 6) & 0x3F, v & 0x3F
    month_index = (year - 1970) * 12 + np.clip(month, 1, 12) - 1
    first_day = month_index.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    days_in_month = (month_index + 1).astype("datetime64[M]").astype("datetime64[D]").astype(
        np.int64
    ) - first_day
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month)
    ok &= (hour < 24) & (minute < 60) & (second < 60)
    seconds = (first_day + day - 1) * 86400 + hour * 3600 + minute * 60 + second
    return seconds.astype(np.float64), ok


def _timed_runs(
    rows: NDArray[np.int64],
    run_start: NDArray[np.bool_],
    anchor_t: NDArray[np.float64],
    anchor_offset: NDArray[np.int64],
    count: NDArray[np.int64],
    rate_hz: NDArray[np.float64],
) -> list[tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """(block rows, sample times) per run of contiguous blocks, times interpolated between block anchors."""
    starts = run_start[rows].copy()
    starts[0] = True
    out = []
    for run in np.split(rows, np.flatnonzero(starts)[1:]):
        first_sample = np.r_[0, np.cumsum(count[run])[:-1]]
        ak = (first_sample + anchor_offset[run]).astype(np.float64)
        at = anchor_t[run]
        nominal = float(rate_hz[run[0]])
        implied = np.diff(ak) / np.where(np.diff(at) > 0, np.diff(at), np.nan)
        jump = ~(np.abs(implied / nominal - 1.0) <= RATE_TOLERANCE)  # NaN (clock standing still) is a jump
        for sub in np.split(np.arange(run.size), np.flatnonzero(jump) + 1):
            n = int(count[run[sub]].sum())
            k = np.arange(n, dtype=np.float64) + first_sample[sub[0]]
            out.append((run[sub], _interpolate(k, ak[sub], at[sub], nominal)))
    return out


def _interpolate(
    k: NDArray[np.float64], ak: NDArray[np.float64], at: NDArray[np.float64], rate_hz: float
) -> NDArray[np.float64]:
    """Piecewise-linear time of sample index ``k`` through the anchors, extended by the end slopes."""
    if ak.size == 1:
        return at[0] + (k - ak[0]) / rate_hz
    t = np.interp(k, ak, at)
    lo, hi = k < ak[0], k > ak[-1]
    t[lo] = at[0] + (k[lo] - ak[0]) * (at[1] - at[0]) / (ak[1] - ak[0])
    t[hi] = at[-1] + (k[hi] - ak[-1]) * (at[-1] - at[-2]) / (ak[-1] - ak[-2])
    return t


def _monotonic_parts(
    pieces: list[tuple[NDArray[np.int64], NDArray[np.float64]]],
) -> list[list[tuple[NDArray[np.int64], NDArray[np.float64]]]]:
    """Group runs into recordings; a run starting before the previous one ended starts a new one."""
    parts: list[list[tuple[NDArray[np.int64], NDArray[np.float64]]]] = []
    for piece in pieces:
        if piece[1].size == 0:
            continue
        if parts and piece[1][0] > parts[-1][-1][1][-1]:
            parts[-1].append(piece)
        else:
            parts.append([piece])
    return parts


def _iso(unix_s: float) -> str:
    return str(np.datetime64(round(unix_s * 1e6), "us"))
