"""GENEActiv ``.bin`` files: a text header, then pages of hex-encoded 12-bit accelerometer samples.

Written from the format as the GENEActiv Operating Instructions describe it ("Decoding .bin files";
ActivInsights, activinsights.com/support/geneactiv-support/, as cited by GGIRread's reader), facts only:

- The file is text. A header of ``Key:Value`` lines in sections (``Device Identity``, ``Configuration
  Info`` with ``Measurement Frequency`` and ``Time Zone: GMT ±hh:mm``, ``Subject Info`` with ``Device
  Location Code``, ``Calibration Data`` with ``x gain``, ``x offset``… for y and z, ``Memory Status`` with
  ``Number of Pages``) is followed by pages.
- Each page starts with a ``Recorded Data`` line and eight ``Key:Value`` lines (serial code, ``Sequence
  Number``, ``Page Time:YYYY-MM-DD hh:mm:ss:mmm`` of the page's first sample, unassigned, temperature,
  battery voltage, device status, ``Measurement Frequency``), then one line of hex digits: 300 samples of
  12 hex digits each — x, y, z as 12-bit two's complement (3 digits each), then 10 bits of light, one
  button bit and one reserved bit.
- Calibrated acceleration in g is ``(raw * 100 - offset) / gain`` per axis with the header's values.

Sample times are the page time plus ``i / rate``; pages whose time does not follow on leave a gap (the
device's page times are trusted, not the sample count); a page that starts before the previous one ended
starts a new recording. Pages whose hex is damaged are skipped and counted in ``meta``; the complete samples
of a truncated last page are kept. The header's time zone makes the start time absolute
(``meta["start_time"]`` is ISO 8601 with its UTC offset).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.samples import Recording, SampleBlock

FORMAT: Final = "geneactiv-bin"
DESCRIPTION: Final = (
    "GENEActiv .bin (text header + hex pages of 12-bit acceleration, calibrated with its gains)"
)

PAGE_MARKER: Final = "Recorded Data"
PAGE_HEADER_LINES: Final = 8
HEX_PER_SAMPLE: Final = 12

_HEX_VALUE: Final = np.full(256, 255, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX_VALUE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_HEX_VALUE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)


def sniff(path: Path, head: bytes) -> bool:
    """A GENEActiv header: ``Device Identity`` first and ``GENEActiv`` as the device type."""
    return head.startswith(b"Device Identity") and b"Device Type:GENEActiv" in head


def read(path: Path) -> list[Recording]:
    """Every recording in a GENEActiv ``.bin`` (usually one); acc m/s² incl. gravity, no gyroscope."""
    path = Path(path)
    lines = path.read_bytes().decode("latin-1").splitlines()
    lines = [line.rstrip() for line in lines]
    if not lines or lines[0] != "Device Identity" or PAGE_MARKER not in lines:
        raise InputError(
            "not a GENEActiv .bin file",
            expected=f"a text header starting 'Device Identity' followed by '{PAGE_MARKER}' pages",
            found=f"first line {lines[0][:60]!r}" if lines else "an empty file",
            where=path,
        )
    first_page = lines.index(PAGE_MARKER)
    header = _key_values(lines[:first_page])
    gain, offset = _calibration(header, path)
    zone = parse_gmt_offset(header.get("Time Zone", ""))

    page_starts = [i for i, line in enumerate(lines) if line == PAGE_MARKER]
    pages: list[tuple[float, float, NDArray[np.int64]]] = []
    skipped = 0
    truncated = 0
    for i in page_starts:
        page = _read_page(lines, i, zone)
        if page is None:
            skipped += 1
            continue
        truncated += int(page[2].shape[0] < 300)
        pages.append(page)
    if not pages:
        raise InputError(
            "no readable data pages",
            expected="pages of 'Page Time', 'Measurement Frequency' and a line of hex samples",
            found=f"{len(page_starts)} damaged pages",
            where=path,
        )

    meta_common: dict[str, Any] = {
        "format": FORMAT,
        "device": f"GENEActiv {header.get('Device Model', '')}".strip(),
        "device_id": header.get("Device Unique Serial Code"),
        "firmware": header.get("Device Firmware Version"),
        "calibration": {"gain": gain.tolist(), "offset": offset.tolist()},
        "pages_total": len(page_starts),
        "pages_decoded": len(pages),
        "pages_skipped_damaged": skipped,
        "pages_truncated": truncated,
        "start_time_zone": header.get("Time Zone") or "unknown",
    }
    if header.get("Device Location Code"):
        meta_common["placement"] = header["Device Location Code"]

    recordings = []
    for group in _monotonic_groups(pages):
        t = np.concatenate([start + np.arange(raw.shape[0]) / rate for start, rate, raw in group])
        raw = np.concatenate([p[2] for p in group])
        acc_g = (raw * 100.0 - offset) / gain
        meta = {
            **meta_common,
            "configured_rate_hz": group[0][1],
            "start_unix_s": float(t[0]),
            "start_time": _iso(float(t[0]), zone),
        }
        samples = SampleBlock(t - t[0], acc_g * STANDARD_GRAVITY_MS2, None)
        recordings.append(Recording.from_samples(samples, str(path), rate_hz=group[0][1], meta=meta))
    return recordings


def parse_gmt_offset(text: str) -> timezone | None:
    """``GMT -04:00`` / ``GMT -04`` / ``GMT +05:30`` → a fixed offset; ``None`` when absent or unreadable."""
    m = re.fullmatch(r"\s*(?:GMT|UTC)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?\s*", text)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))


def _key_values(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip().strip("\x00")
    return out


def _calibration(header: dict[str, str], path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    try:
        gain = np.array([float(header[f"{a} gain"]) for a in "xyz"])
        offset = np.array([float(header[f"{a} offset"]) for a in "xyz"])
    except (KeyError, ValueError) as exc:
        raise InputError(
            "calibration data missing or unreadable",
            expected="'x gain', 'x offset', … 'z offset' numbers in the 'Calibration Data' header section",
            found=str(exc),
            where=path,
        ) from exc
    if np.any(gain <= 0):
        raise InputError("calibration gain not positive", expected="gain > 0", found=str(gain), where=path)
    return gain, offset


def _read_page(
    lines: list[str], i: int, zone: timezone | None
) -> tuple[float, float, NDArray[np.int64]] | None:
    """(start unix s, rate Hz, raw counts (n, 3)) of the page whose marker is line ``i``; None if damaged."""
    if i + 1 + PAGE_HEADER_LINES >= len(lines):
        return None
    fields = _key_values(lines[i + 1 : i + 1 + PAGE_HEADER_LINES])
    try:
        start = datetime.strptime(fields["Page Time"], "%Y-%m-%d %H:%M:%S:%f")
        rate_hz = float(fields["Measurement Frequency"].split()[0])
    except (KeyError, ValueError, IndexError):
        return None
    text = lines[i + 1 + PAGE_HEADER_LINES].strip().encode("ascii", "replace")
    n = len(text) // HEX_PER_SAMPLE
    digits = _HEX_VALUE[np.frombuffer(text[: n * HEX_PER_SAMPLE], np.uint8)].reshape(n, HEX_PER_SAMPLE)
    if n == 0 or rate_hz <= 0 or np.any(digits == 255):
        return None
    d = digits.astype(np.int64)
    xyz = np.stack([(d[:, k] << 8) | (d[:, k + 1] << 4) | d[:, k + 2] for k in (0, 3, 6)], axis=1)
    xyz = np.where(xyz >= 2048, xyz - 4096, xyz)
    start_s = (start.replace(tzinfo=zone or UTC)).timestamp()
    return start_s, rate_hz, xyz


def _monotonic_groups(
    pages: list[tuple[float, float, NDArray[np.int64]]],
) -> list[list[tuple[float, float, NDArray[np.int64]]]]:
    """Consecutive pages with one rate whose start follows the previous page's last sample."""
    groups: list[list[tuple[float, float, NDArray[np.int64]]]] = []
    for page in pages:
        if groups:
            prev_start, prev_rate, prev_raw = groups[-1][-1]
            last = prev_start + (prev_raw.shape[0] - 1) / prev_rate
            if page[1] == prev_rate and page[0] > last:
                groups[-1].append(page)
                continue
        groups.append([page])
    return groups


def _iso(unix_s: float, zone: timezone | None) -> str:
    moment = datetime.fromtimestamp(unix_s, tz=zone or UTC)
    return moment.isoformat(timespec="milliseconds") if zone else moment.replace(tzinfo=None).isoformat()
