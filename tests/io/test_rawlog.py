"""The raw log: round trip, torn tails, corrupt records, garbage, speed, and the background fsync."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from imu.errors import ImuError, InputError
from imu.io import rawlog
from imu.io.rawlog import FILE_HEADER, RECORD_OVERHEAD, SYNC, RawLogWriter, read_raw_log


def _records(n: int, seed: int = 0) -> list[tuple[bytes, int, int]]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 250, n)
    return [
        (
            rng.integers(0, 256, int(s), dtype=np.uint8).tobytes(),
            1_700_000_000_000_000_000 + 38_000_000 * i,
            i % 3,
        )
        for i, s in enumerate(sizes)
    ]


def _write(path: Path, records: list[tuple[bytes, int, int]]) -> list[int]:
    """Write the records; return each record's end offset."""
    ends = []
    with RawLogWriter(path) as writer:
        for payload, t_ns, channel in records:
            writer.append(payload, t_ns, channel)
            ends.append(path.stat().st_size)
    return ends


def _as_tuples(records: list[rawlog.RawRecord]) -> list[tuple[bytes, int, int]]:
    return [(r.payload, r.host_time_ns, r.channel) for r in records]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "raw.log"
    records = _records(200)
    ends = _write(path, records)
    got, report = read_raw_log(path)
    assert _as_tuples(got) == records
    assert [r.offset for r in got] == [len(FILE_HEADER), *ends[:-1]]
    assert report.records == 200
    assert report.skipped == []
    assert (
        report.file_bytes
        == ends[-1]
        == len(FILE_HEADER) + sum(len(p) + RECORD_OVERHEAD for p, _, _ in records)
    )


def test_appending_to_an_existing_log_keeps_one_header(tmp_path: Path) -> None:
    path = tmp_path / "raw.log"
    records = _records(10)
    _write(path, records[:5])
    _write(path, records[5:])
    got, report = read_raw_log(path)
    assert _as_tuples(got) == records
    assert report.skipped == []


@pytest.mark.parametrize("cut", [1, 4, 10, 15, 20, -4, -1])
def test_torn_tail_is_skipped_and_reported(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "raw.log"
    records = _records(20)
    ends = _write(path, records)
    last_start = ends[-2]
    keep = last_start + cut if cut > 0 else ends[-1] + cut
    path.write_bytes(path.read_bytes()[:keep])
    got, report = read_raw_log(path)
    assert _as_tuples(got) == records[:-1]
    assert report.torn_tail_bytes == keep - last_start
    assert report.corrupt_regions == 0


def test_a_corrupt_record_in_the_middle_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "raw.log"
    records = [(bytes(range(40)), 1000 * i, 0) for i in range(30)]
    ends = _write(path, records)
    data = bytearray(path.read_bytes())
    data[ends[9] + 20] ^= 0xFF  # a payload byte of record 10
    data[ends[19] + 4] ^= 0x7F  # the length field of record 20: claims to run far on
    path.write_bytes(bytes(data))
    got, report = read_raw_log(path)
    assert _as_tuples(got) == records[:10] + records[11:20] + records[21:]
    assert [(r.offset, r.length, r.reason) for r in report.skipped] == [
        (ends[9], ends[10] - ends[9], "corrupt record"),
        (ends[19], ends[20] - ends[19], "corrupt record"),
    ]
    assert report.torn_tail_bytes == 0


def test_a_sync_marker_inside_a_payload_does_not_confuse_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "raw.log"
    records = [(SYNC * 5 + b"x", i, 0) for i in range(5)]
    ends = _write(path, records)
    data = bytearray(path.read_bytes())
    data[ends[1] + 16] ^= 0x01  # damage record 2, whose payload is full of sync markers
    path.write_bytes(bytes(data))
    got, report = read_raw_log(path)
    assert _as_tuples(got) == records[:2] + records[3:]
    assert report.skipped_bytes == ends[2] - ends[1]


@pytest.mark.parametrize("content", [b"", b"IMU-RAW", b"garbage" * 100, np.random.default_rng(5).bytes(5000)])
def test_garbage_or_truncated_files_do_not_crash(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "raw.log"
    path.write_bytes(content)
    got, report = read_raw_log(path)
    assert got == []
    assert report.skipped_bytes == len(content)


def test_records_after_a_damaged_file_header_are_still_found(tmp_path: Path) -> None:
    path = tmp_path / "raw.log"
    records = _records(5)
    _write(path, records)
    path.write_bytes(b"junk" + path.read_bytes()[len(FILE_HEADER) :])
    got, report = read_raw_log(path)
    assert _as_tuples(got) == records
    assert [(r.offset, r.reason) for r in report.skipped] == [(0, "bad file header")]


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="raw log missing"):
        read_raw_log(tmp_path / "nope.log")


def test_writer_rejects_what_it_cannot_store_and_appends_after_close(tmp_path: Path) -> None:
    writer = RawLogWriter(tmp_path / "raw.log")
    with pytest.raises(InputError, match="channel"):
        writer.append(b"x", 0, channel=256)
    with pytest.raises(InputError, match="too long"):
        writer.append(bytes(70_000), 0)
    with pytest.raises(InputError, match="host time"):
        writer.append(b"x", 2**63)
    writer.close()
    with pytest.raises(ImuError, match="closed"):
        writer.append(b"x", 0)
    assert read_raw_log(tmp_path / "raw.log")[1].records == 0


def test_fsync_happens_in_the_background_after_appends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = rawlog.os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(rawlog.os, "fsync", counting_fsync)
    writer = RawLogWriter(tmp_path / "raw.log", fsync_interval_s=0.05)
    after_create = len(synced)
    time.sleep(0.2)
    assert len(synced) == after_create  # nothing appended: nothing to sync
    writer.append(b"abc", 1)
    deadline = time.monotonic() + 2.0
    while len(synced) == after_create and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(synced) > after_create
    writer.close()


def test_reading_an_hour_of_notifications_is_fast(tmp_path: Path) -> None:
    """≈ 200k notifications of a 6-axis packet (8 samples) — an hour at 52 packets/s."""
    path = tmp_path / "raw.log"
    payload = bytes(16 + 8 * 12)
    n = 200_000
    one = rawlog._RECORD_HEADER.pack(SYNC, len(payload), 0, 0) + payload
    record = one + rawlog._CRC.pack(rawlog.zlib.crc32(one))
    path.write_bytes(FILE_HEADER + record * n)
    start = time.perf_counter()
    _, report = read_raw_log(path)
    elapsed_s = time.perf_counter() - start
    assert report.records == n
    assert elapsed_s < 2.0, f"reading {n} records took {elapsed_s:.2f} s"
