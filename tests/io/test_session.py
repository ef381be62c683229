"""Session folders: round trip, metadata, refusing to overwrite, recover, and damaged raw logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imu
from imu.cli import main
from imu.devices.reference import ReferenceDecoder, encode_packets
from imu.errors import InputError, SessionError
from imu.io.session import (
    GAPS_FILE,
    META_FILE,
    RAW_FILE,
    SAMPLES_FILE,
    SessionWriter,
    is_session,
    open_session,
    recover_session,
)

RATE_HZ = 104
PER_PACKET = 8
DEVICE = {"protocol": "reference", "name": "test board", "address": "AA:BB", "firmware": "1.2.3"}
SETTINGS = {"rate_hz": RATE_HZ, "acc_range_g": 16, "gyr_range_dps": 2000}
T0_NS = 1_700_000_000_000_000_000


def _packets(n_packets: int = 60, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    n = n_packets * PER_PACKET
    acc = rng.normal(0, 5, (n, 3))
    acc[:, 1] += 9.8
    return encode_packets(acc, rng.normal(0, 100, (n, 3)), rate_hz=RATE_HZ, samples_per_packet=PER_PACKET)


def _host_ns(k: int) -> int:
    return T0_NS + int((k + 1) * PER_PACKET / RATE_HZ * 1e9) + 10_000_000


def _expected(packets: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    frames = [f for p in packets for f in ReferenceDecoder().decode(p)]
    return np.concatenate([f.acc for f in frames]), np.concatenate([f.gyr for f in frames])


def _record(
    folder: Path, packets: list[bytes], *, skip: frozenset[int] = frozenset()
) -> imu.samples.Recording:
    with SessionWriter.create(folder, device=DEVICE, settings=SETTINGS) as writer:
        for k, packet in enumerate(packets):
            if k not in skip:
                writer.append(packet, _host_ns(k))
        return writer.close()


def _meta(folder: Path) -> dict:
    return json.loads((folder / META_FILE).read_text())


def test_round_trip_and_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    packets = _packets()
    start = datetime(2024, 3, 15, 10, 15, tzinfo=UTC)
    with SessionWriter.create(
        folder, device=DEVICE, settings=SETTINGS, mounting={"side": "back"}, start_utc=start
    ) as writer:
        assert _meta(folder)["status"] == "recording"  # on disk before the first notification
        for k, packet in enumerate(packets):
            writer.append(packet, _host_ns(k))
        writer.write_truth("contacts", pd.DataFrame({"t_s": [0.1, 0.5], "side": ["L", "R"]}))
        recording = writer.close()

    acc, gyr = _expected(packets)
    np.testing.assert_array_equal(recording.samples.acc, acc)
    np.testing.assert_array_equal(recording.samples.gyr, gyr)
    assert recording.rate_hz == RATE_HZ
    assert recording.gaps() == []

    meta = _meta(folder)
    assert meta["format"] == "imu-session" and meta["format_version"] == 1
    assert meta["software"] == {"name": "imu", "version": imu.__version__}
    assert meta["status"] == "closed"
    assert meta["started_utc"] == "2024-03-15T10:15:00.000000Z"
    assert datetime.fromisoformat(meta["closed_utc"]) >= datetime.fromisoformat(meta["created_utc"])
    assert meta["device"] == DEVICE
    assert meta["settings"] == SETTINGS
    assert meta["mounting"] == {"side": "back"}
    assert meta["channels"] == {"0": "data"}
    assert meta["samples"]["count"] == len(acc)
    assert meta["raw_log"]["records"] == len(packets)
    assert meta["clock"]["lost_packets"] == 0

    reopened = open_session(folder)
    np.testing.assert_array_equal(reopened.samples.t_s, recording.samples.t_s)
    np.testing.assert_array_equal(reopened.samples.acc, acc)
    pd.testing.assert_frame_equal(reopened.truth["contacts"], recording.truth["contacts"])
    assert reopened.meta["status"] == "closed"
    assert is_session(folder)


def test_lost_packets_are_gaps_in_the_session(tmp_path: Path) -> None:
    recording = _record(tmp_path / "s", _packets(), skip=frozenset({20, 21, 40}))
    gaps = pd.read_parquet(tmp_path / "s" / GAPS_FILE)
    assert list(gaps["index"]) == [20 * PER_PACKET, 38 * PER_PACKET]
    assert list(gaps["missing_samples"]) == [16, 8]
    assert [g.index for g in recording.gaps()] == list(gaps["index"])
    assert _meta(tmp_path / "s")["clock"]["lost_packets"] == 3


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    _record(folder, _packets(5))
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(SessionError, match="never overwritten"):
        SessionWriter.create(folder, device=DEVICE, settings=SETTINGS)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(SessionError):
        SessionWriter.create(tmp_path / "file", device=DEVICE, settings=SETTINGS)
    (tmp_path / "empty").mkdir()
    SessionWriter.create(tmp_path / "empty", device=DEVICE, settings=SETTINGS).close()


def test_bad_device_or_settings_fail_before_anything_is_created(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown device protocol"):
        SessionWriter.create(tmp_path / "a", device={"protocol": "nope"}, settings=SETTINGS)
    with pytest.raises(InputError, match="protocol"):
        SessionWriter.create(tmp_path / "b", device={"name": "x"}, settings=SETTINGS)
    with pytest.raises(InputError, match="JSON"):
        SessionWriter.create(tmp_path / "c", device=DEVICE, settings={"rate_hz": object()})
    assert list(tmp_path.iterdir()) == []


def test_context_manager_closes_on_keyboard_interrupt(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    packets = _packets(10)
    with (
        pytest.raises(KeyboardInterrupt),
        SessionWriter.create(folder, device=DEVICE, settings=SETTINGS) as w,
    ):
        for k, packet in enumerate(packets):
            w.append(packet, _host_ns(k))
        raise KeyboardInterrupt
    assert _meta(folder)["status"] == "closed"
    assert len(pd.read_parquet(folder / SAMPLES_FILE)) == 10 * PER_PACKET
    with pytest.raises(SessionError, match="closed"):
        w.append(packets[0], 0)


def test_an_unclosed_session_opens_from_its_raw_log(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    packets = _packets(30)
    writer = SessionWriter.create(folder, device=DEVICE, settings=SETTINGS)
    for k, packet in enumerate(packets):
        writer.append(packet, _host_ns(k))
    recording = open_session(folder)  # while still recording: a live view
    assert recording.meta["status"] == "recording"
    assert recording.meta["rebuilt_from_raw_log"] is True
    np.testing.assert_array_equal(recording.samples.acc, _expected(packets)[0])
    with pytest.raises(SessionError, match="being recorded"):
        recover_session(folder)
    writer.close()


def test_recover_after_a_torn_tail(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    packets = _packets(30)
    closed = _record(folder, packets)
    raw = folder / RAW_FILE
    raw.write_bytes(raw.read_bytes()[:-50])  # the last record torn
    (folder / SAMPLES_FILE).unlink()
    report = recover_session(folder)
    assert report.previous_status == "closed"
    assert report.records == 29
    assert report.torn_tail_bytes > 0 and report.corrupt_regions == 0
    assert report.samples == 29 * PER_PACKET
    assert "torn" in report.summary()
    recovered = open_session(folder)
    assert recovered.meta["status"] == "recovered"
    np.testing.assert_array_equal(recovered.samples.acc, closed.samples.acc[: 29 * PER_PACKET])


def test_a_missing_samples_file_is_rebuilt_on_open(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    closed = _record(folder, _packets(10))
    (folder / SAMPLES_FILE).unlink()
    np.testing.assert_array_equal(open_session(folder).samples.t_s, closed.samples.t_s)
    (folder / SAMPLES_FILE).write_bytes(b"not parquet")
    np.testing.assert_array_equal(open_session(folder).samples.t_s, closed.samples.t_s)


@pytest.mark.parametrize("content", [b"", b"IMU-RAW", np.random.default_rng(3).bytes(20_000)])
def test_garbage_raw_log_does_not_crash_open_or_recover(tmp_path: Path, content: bytes) -> None:
    folder = tmp_path / "s"
    writer = SessionWriter.create(folder, device=DEVICE, settings=SETTINGS)
    writer.close()
    (folder / RAW_FILE).write_bytes(content)
    assert len(open_session(folder).samples) == 0
    report = recover_session(folder)
    assert report.samples == 0 and report.records == 0
    assert report.skipped_bytes == len(content)
    assert len(open_session(folder).samples) == 0


def test_undecodable_notifications_are_counted_and_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    packets = _packets(10)
    with SessionWriter.create(folder, device=DEVICE, settings=SETTINGS) as writer:
        for k, packet in enumerate(packets):
            writer.append(packet, _host_ns(k))
            if k == 4:
                writer.append(b"\x80\x01\x00", _host_ns(k), channel=1)  # a control response: no samples
                writer.append(b"\x01\x02\x03", _host_ns(k))  # a data packet cut short: undecodable
    report = recover_session(folder)
    assert report.decode_errors == 1
    assert report.samples == 10 * PER_PACKET


def test_not_a_session(tmp_path: Path) -> None:
    assert not is_session(tmp_path)
    with pytest.raises(SessionError, match="not a session"):
        open_session(tmp_path)
    (tmp_path / META_FILE).write_text("{broken")
    assert not is_session(tmp_path)
    with pytest.raises(SessionError, match="not valid JSON"):
        recover_session(tmp_path)
    (tmp_path / META_FILE).write_text(json.dumps({"format": "imu-session", "format_version": 99}))
    with pytest.raises(SessionError, match="newer"):
        open_session(tmp_path)


def test_cli_recover(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "s"
    _record(folder, _packets(10))
    assert main(["recover", str(folder)]) == 0
    assert "recovered 80 samples" in capsys.readouterr().out
    assert main(["recover", str(tmp_path / "nothing")]) == 2
    assert "not a session" in capsys.readouterr().err
