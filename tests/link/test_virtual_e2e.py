"""Virtual sensor → BleakClient (backend hook) → link → session → open_session, with faults accounted for."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imu.cli import main
from imu.io.rawlog import read_raw_log
from imu.io.session import LINK_EVENT_CHANNEL, open_session
from imu.link.ble import ReconnectPolicy
from imu.link.protocols import PROTOCOLS
from imu.link.record import record
from imu.link.scan import scan
from imu.link.virtual import FaultSettings, virtual_sensor
from imu.link.virtual.device import Packet
from imu.link.virtual.sensors import VIRTUAL_SENSORS
from tests.link._virtual import TIMESTAMPED, expected_samples, holes, record_virtual

FAULTS = FaultSettings(
    loss_pct=3,
    duplicate_pct=2,
    reorder_pct=2,
    burst_pct=2,
    clock_ppm=40,
    disconnects=2,
    disconnect_span_s=60,
    seed=3,
)


def _data_records(folder: Path) -> list[bytes]:
    records, report = read_raw_log(folder / "raw.log")
    assert report.skipped_bytes == 0
    return [r.payload for r in records if r.channel != LINK_EVENT_CHANNEL]


@pytest.mark.parametrize("kind", TIMESTAMPED)
def test_every_arrived_sample_is_recorded_and_every_loss_is_a_gap(kind: str, tmp_path: Path) -> None:
    seconds = 240 if kind == "polar" else 60  # Polar sends a frame per 36 samples: fewer packets per minute
    result, device = record_virtual(kind, tmp_path / "s", seconds=seconds, faults=FAULTS, speed=seconds)
    injected = device.injected
    assert (
        injected.fates()["lost"] > 0
        and injected.fates()["duplicated"] > 0
        and injected.fates()["reordered"] > 0
    )
    # the raw log holds exactly what the sensor notified, responses included, in order
    assert _data_records(tmp_path / "s") == [payload for _, payload in injected.notifications]
    recording = open_session(tmp_path / "s")
    expected = expected_samples(device)
    samples = recording.samples
    assert len(samples) == expected.sum() == result.stats.samples
    index = np.flatnonzero(expected)
    run = device.run.samples
    assert run.gyr is not None and samples.gyr is not None
    np.testing.assert_allclose(samples.acc, run.acc[index], atol=0.006)  # 1 mG / 1 count of ±16 g
    np.testing.assert_allclose(samples.gyr, run.gyr[index], atol=0.07)  # Polar's FACTOR applied
    device_s = index / device.rate_hz * (1 + FAULTS.clock_ppm * 1e-6)
    np.testing.assert_allclose(samples.t_s, device_s - device_s[0], atol=1e-3)  # Movesense: ms stamps
    gaps = pd.read_parquet(tmp_path / "s" / "gaps.parquet")
    assert list(zip(gaps["index"], gaps["missing_samples"], strict=True)) == holes(expected)
    stats = result.stats
    assert stats.notifications == len(injected.notifications)
    assert (stats.queue_drops, stats.decode_errors) == (0, 0)
    assert stats.reconnects == injected.connections - 1 == len(injected.disconnects_s) == 2
    assert stats.gaps == len(gaps)


def test_witmotion_records_what_arrived_in_arrival_order_and_marks_reconnects(tmp_path: Path) -> None:
    """No timestamp, no sequence number: radio loss is invisible (spec), a reconnect is a marked gap."""
    result, device = record_virtual("witmotion", tmp_path / "s", seconds=60, faults=FAULTS, speed=60)
    assert _data_records(tmp_path / "s") == [payload for _, payload in device.injected.notifications]
    recording = open_session(tmp_path / "s")
    order = np.concatenate([np.arange(i0, i1) for _, i0, i1 in device.injected.deliveries])
    np.testing.assert_allclose(recording.samples.acc, device.run.samples.acc[order], atol=0.006)
    events = [r for r in read_raw_log(tmp_path / "s" / "raw.log")[0] if r.channel == LINK_EVENT_CHANNEL]
    assert [e.payload for e in events] == [b"connected", b"disconnected"] * 3
    gaps = pd.read_parquet(tmp_path / "s" / "gaps.parquet")
    assert len(gaps) == result.stats.reconnects == 2
    down_samples = FAULTS.down_s * device.rate_hz
    assert (gaps["missing_samples"] >= down_samples).all()  # the time away from the host's clock


def test_a_disconnect_storm_loses_nothing_that_arrived(tmp_path: Path) -> None:
    faults = FaultSettings(loss_pct=1, clock_ppm=-30, disconnects=20, disconnect_span_s=3600, seed=11)
    policy = ReconnectPolicy(stall_s=120.0)  # accelerated 1800×: event-loop hiccups must not look like stalls
    result, device = record_virtual(
        "polar", tmp_path / "s", seconds=3600, faults=faults, speed=1800, policy=policy
    )
    injected = device.injected
    assert len(injected.disconnects_s) == 20
    stats = result.stats
    assert stats.reconnects == injected.connections - 1 >= 19  # the last drop may leave no time to return
    own_at_end = stats.disconnects - injected.dropped_connections
    assert own_at_end in (0, 1) and injected.dropped_connections >= 19
    assert stats.failed_attempts == injected.refused_connections  # each refusal seen, backed off, retried
    expected = expected_samples(device)
    recording = open_session(tmp_path / "s")
    assert len(recording.samples) == expected.sum() == stats.samples
    gaps = pd.read_parquet(tmp_path / "s" / "gaps.parquet")
    assert list(zip(gaps["index"], gaps["missing_samples"], strict=True)) == holes(expected)
    assert stats.unpaired_samples + stats.samples >= expected.sum()


class _Fuzzing:
    """Mixin: half of the data notifications replaced by random bytes (seeded)."""

    def packets(self, i0: int, i1: int) -> list[Packet]:
        rng = np.random.default_rng(i0)
        out = []
        for packet in super().packets(i0, i1):  # type: ignore[misc]
            notes = tuple(
                (uuid, rng.bytes(int(rng.integers(0, 300))) if rng.random() < 0.5 else payload)
                for uuid, payload in packet.notifications
            )
            out.append(Packet(packet.stream, packet.i0, packet.i1, notes))
        return out


@pytest.mark.parametrize("kind", sorted(VIRTUAL_SENSORS))
def test_fuzzed_notifications_are_counted_never_raised(kind: str, tmp_path: Path) -> None:
    fuzzing = type(f"Fuzzing{kind}", (_Fuzzing, VIRTUAL_SENSORS[kind]), {})
    result, device = record_virtual(kind, tmp_path / "s", seconds=20, speed=40, device_class=fuzzing)
    stats = result.stats
    assert stats.notifications == len(device.injected.notifications) > 20
    if kind != "witmotion":  # WitMotion resynchronises on garbage instead (skipped bytes)
        assert stats.decode_errors > 0
    recording = open_session(tmp_path / "s")
    assert recording.meta["raw_log"]["decode_errors"] == stats.decode_errors
    assert len(recording.samples) == stats.samples


def test_cancelling_a_recording_closes_the_session(tmp_path: Path) -> None:
    air, device = virtual_sensor("reference", seconds=30, speed=20)

    async def main() -> None:
        air.switch_on()
        task = asyncio.create_task(
            record(
                tmp_path / "s",
                device.address,
                PROTOCOLS["reference"](),
                backend=air.client_backend,
                timebase=air.time,
            )
        )
        await air.time.sleep(5.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await air.switch_off()

    asyncio.run(main())
    recording = open_session(tmp_path / "s")
    assert recording.meta["status"] == "closed"
    assert (tmp_path / "s" / "samples.parquet").is_file()
    assert _data_records(tmp_path / "s") == [payload for _, payload in device.injected.notifications]
    assert len(recording.samples) == expected_samples(device).sum() > 0


def test_imu_record_virtual_polar_via_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--virtual", "polar", "--seconds", "2", str(tmp_path / "s")]) == 0
    assert "samples" in capsys.readouterr().out
    recording = open_session(tmp_path / "s")
    assert recording.meta["device"]["protocol"] == "polar_pmd"
    assert len(recording.samples) > 0 and recording.samples.gyr is not None
    assert (
        main(["record", "--virtual", "polar", "--seconds", "2", str(tmp_path / "s")]) == 2
    )  # never overwrite


def test_scan_recognises_every_virtual_sensor_through_bleak_scanner() -> None:
    async def main() -> list[str]:
        air, _ = virtual_sensor("polar", seconds=1)
        for k, kind in enumerate(sorted(VIRTUAL_SENSORS)):
            air.add(
                VIRTUAL_SENSORS[kind](air.devices["00:00:00:00:00:01"].run, address=f"AA:00:00:00:00:{k:02X}")
            )
        found = await scan(0.01, backend=air.scanner_backend)
        return sorted(f.kind.kind for f in found)

    assert asyncio.run(main()) == ["movesense", "polar", "polar", "reference", "witmotion"]


def test_scan_without_bluetooth_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bleak import BleakScanner
    from bleak.exc import BleakError

    async def no_adapter(*args: object, **kwargs: object) -> None:
        raise BleakError("No Bluetooth adapters found.")

    monkeypatch.setattr(BleakScanner, "discover", no_adapter)
    assert main(["scan", "--timeout", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Bluetooth is not available" in err
