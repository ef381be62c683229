"""Reference packets: encode/decode round trips, the spec's example, malformed packets, commands."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices.base import DecodeError
from imu.devices.reference import (
    HEADER_SIZE,
    CommandResponse,
    ReferenceDecoder,
    ResponseStatus,
    StartCommand,
    StopCommand,
    decode_command,
    decode_response,
    encode_command,
    encode_packets,
    encode_response,
)
from imu.devices.registry import decoder_for, known_protocols
from imu.errors import InputError

SPEC = Path(__file__).resolve().parents[2] / "firmware_specs" / "reference_packet.md"


def _signal(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 30, (n, 3)), rng.normal(0, 400, (n, 3))


def _decode_all(packets: list[bytes]) -> list:
    decoder = ReferenceDecoder()
    return [f for p in packets for f in decoder.decode(p)]


def test_round_trip_within_half_an_lsb_and_exact_on_the_grid() -> None:
    acc, gyr = _signal(100)
    frames = _decode_all(encode_packets(acc, gyr, rate_hz=208, samples_per_packet=8))
    got_acc = np.concatenate([f.acc for f in frames])
    got_gyr = np.concatenate([f.gyr for f in frames])
    acc_lsb, gyr_lsb = 16 * STANDARD_GRAVITY_MS2 / 32768, 2000 / 32768
    assert np.max(np.abs(got_acc - acc)) <= acc_lsb / 2 + 1e-12
    assert np.max(np.abs(got_gyr - gyr)) <= gyr_lsb / 2 + 1e-12
    # decoded values lie on the grid, so encoding them again gives the very same bytes
    again = encode_packets(got_acc, got_gyr, rate_hz=208, samples_per_packet=8)
    assert again == encode_packets(acc, gyr, rate_hz=208, samples_per_packet=8)
    assert [f.n_samples for f in frames] == [8] * 12 + [4]
    assert all(f.rate_hz == 208.0 for f in frames)


def test_values_beyond_the_range_saturate_like_a_sensor() -> None:
    acc = np.array([[100.0, -100.0, 0.0]])  # ≈ ±10 g on a ±4 g range
    gyr = np.array([[5000.0, -5000.0, 1.0]])
    (frame,) = _decode_all(
        encode_packets(acc, gyr, rate_hz=100, samples_per_packet=1, acc_range_g=4, gyr_range_dps=250)
    )
    assert frame.acc[0, 0] == pytest.approx(4 * STANDARD_GRAVITY_MS2 * 32767 / 32768)
    assert frame.acc[0, 1] == pytest.approx(-4 * STANDARD_GRAVITY_MS2)
    assert frame.gyr[0, :2] == pytest.approx([250 * 32767 / 32768, -250])


def test_accelerometer_only_packets() -> None:
    acc, _ = _signal(10)
    packets = encode_packets(acc, None, rate_hz=50, samples_per_packet=5, acc_range_g=8)
    assert len(packets[0]) == HEADER_SIZE + 5 * 3 * 2
    frames = _decode_all(packets)
    assert all(f.gyr is None for f in frames)
    assert np.allclose(np.concatenate([f.acc for f in frames]), acc, atol=8 * STANDARD_GRAVITY_MS2 / 32768)


def test_seq_wraps_and_timestamp_is_the_last_sample() -> None:
    acc, gyr = _signal(40)
    packets = encode_packets(
        acc,
        gyr,
        rate_hz=200,
        samples_per_packet=10,
        seq_start=65534,
        device_time_start_us=1_000_000,
        clock_ppm=1000.0,
    )
    frames = _decode_all(packets)
    assert [f.seq for f in frames] == [65534, 65535, 0, 1]
    # the last sample of packet k is sample 10k+9, taken at (10k+9)/200 s on a clock 1000 ppm fast
    expected_us = [1_000_000 + round((10 * k + 9) / 200 * 1e6 * 1.001) for k in range(4)]
    assert [round(f.device_time_s * 1e6) for f in frames] == expected_us


def test_the_example_in_the_spec_decodes_as_it_says() -> None:
    block = re.search(r"```\n(.*?)```", SPEC.read_text(), re.S)
    assert block is not None
    hex_bytes = " ".join(line.split("  ")[0] for line in block.group(1).splitlines())
    (frame,) = ReferenceDecoder().decode(bytes.fromhex(hex_bytes))
    assert frame.seq == 7
    assert frame.device_time_s == pytest.approx(1.5)
    assert frame.rate_hz == 208
    assert frame.acc == pytest.approx(np.array([[0, 0, STANDARD_GRAVITY_MS2]] * 2))
    assert frame.gyr == pytest.approx(np.zeros((2, 3)))


def _good() -> bytes:
    acc, gyr = _signal(4)
    return encode_packets(acc, gyr, rate_hz=100, samples_per_packet=4)[0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "shorter than its header"),
        (_good()[:10], "shorter than its header"),
        (_good()[:-1], "length does not match"),
        (_good() + b"\x00\x00", "length does not match"),
        (b"\x02" + _good()[1:], "version"),
        (_good()[:14] + b"\x09\x04" + _good()[16:], "accelerometer range"),
        (_good()[:14] + b"\x03\x07" + _good()[16:], "gyroscope range"),
        (b"\x01\x00" + _good()[2:HEADER_SIZE], "empty"),
        (_good()[:12] + b"\x00\x00" + _good()[14:], "empty"),
    ],
)
def test_malformed_packets_raise_decode_error(payload: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        ReferenceDecoder().decode(payload)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"acc_range_g": 3}, "accelerometer range"),
        ({"gyr_range_dps": 300}, "gyroscope range"),
        ({"rate_hz": 104.5}, "sampling rate"),
        ({"samples_per_packet": 0}, "samples per packet"),
    ],
)
def test_encoder_rejects_what_the_protocol_cannot_carry(kwargs: dict, message: str) -> None:
    acc, gyr = _signal(4)
    args = {"rate_hz": 100, "samples_per_packet": 4, **kwargs}
    with pytest.raises(InputError, match=message):
        encode_packets(acc, gyr, **args)


@pytest.mark.parametrize(
    "command",
    [
        StartCommand(208),
        StartCommand(52, acc_range_g=2, gyr_range_dps=None, samples_per_packet=1),
        StopCommand(),
    ],
)
def test_commands_round_trip(command: StartCommand | StopCommand) -> None:
    assert decode_command(encode_command(command)) == command


def test_start_command_layout() -> None:
    assert encode_command(StartCommand(208, 16, 2000, 8)) == struct.pack("<BHBBB", 1, 208, 3, 4, 8)
    assert encode_command(StartCommand(100, 4, None, 10)) == bytes([1, 100, 0, 1, 0xFF, 10])


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x03",
        b"\x02\x00",
        b"\x01\xd0\x00\x03\x04",
        b"\x01\xd0\x00\x09\x04\x08",
        b"\x01\x00\x00\x03\x04\x08",
    ],
)
def test_bad_commands_raise_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_command(payload)


def test_responses_round_trip_and_reject_garbage() -> None:
    response = CommandResponse(opcode=1, status=ResponseStatus.INVALID_PARAMETER)
    assert encode_response(response) == b"\x80\x01\x02"
    assert decode_response(b"\x80\x01\x02") == response
    for bad in (b"", b"\x80\x01", b"\x81\x01\x00", b"\x80\x01\x09"):
        with pytest.raises(DecodeError):
            decode_response(bad)


def test_registry_builds_the_reference_decoder_and_names_known_protocols() -> None:
    assert isinstance(decoder_for("reference", {"rate_hz": 208}), ReferenceDecoder)
    assert "reference" in known_protocols()
    with pytest.raises(InputError, match="reference") as info:
        decoder_for("no-such-device", {})
    assert "no-such-device" in str(info.value)
