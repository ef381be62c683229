"""WitMotion WT901BLE decoder: the shared vectors, reassembly across notifications, resync on garbage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices import witmotion as wit
from tests.devices.vectors import hex_bytes, load, params

VECTORS = "witmotion_wt901ble_synthetic.json"


def _decode_all(decoder: wit.WitMotionDecoder, chunks: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    frames = [f for c in chunks for f in decoder.decode(c)]
    acc = np.concatenate([f.acc for f in frames if f.acc is not None]) if frames else np.empty((0, 3))
    gyr = np.concatenate([f.gyr for f in frames if f.gyr is not None]) if frames else np.empty((0, 3))
    return acc, gyr


@pytest.mark.parametrize("vector", params(VECTORS, "vectors"))
def test_packet_vector(vector: dict[str, Any]) -> None:
    packet = hex_bytes(vector["frame_hex"])
    acc_g, gyr_dps, angle_deg = wit.decode_imu_packets(np.frombuffer(packet, np.uint8).reshape(1, -1))
    expected = vector["expected"]
    np.testing.assert_array_equal(acc_g[0], expected["acc_g"])
    np.testing.assert_array_equal(gyr_dps[0], expected["gyro_dps"])
    np.testing.assert_array_equal(angle_deg[0], expected["angle_deg"])
    assert wit.encode_imu_packets(acc_g, gyr_dps, angle_deg) == packet

    decoder = wit.WitMotionDecoder(rate_hz=100.0)
    (frame,) = decoder.decode(packet)
    assert frame.device_time_s is None and frame.seq is None and frame.rate_hz == 100.0
    np.testing.assert_allclose(frame.acc, acc_g * STANDARD_GRAVITY_MS2)
    for cut in range(1, len(packet)):  # a truncated packet is held back, never emitted
        assert wit.WitMotionDecoder().decode(packet[:cut]) == []


def _stream_vector() -> dict[str, Any] | None:
    data = load(VECTORS)
    return None if data is None else data["stream_reassembly_vector"]


def test_stream_reassembly_vector() -> None:
    vector = _stream_vector()
    if vector is None:
        pytest.skip("WitMotion vectors not found")
    decoder = wit.WitMotionDecoder()
    acc, _ = _decode_all(decoder, [hex_bytes(c) for c in vector["chunks_hex"]])
    assert acc.shape[0] == vector["expected_frames"]
    assert decoder.skipped_bytes == 0


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_chunking_and_garbage_between_notifications_give_the_same_samples(data: st.DataObject) -> None:
    vector = _stream_vector()
    if vector is None:
        pytest.skip("WitMotion vectors not found")
    stream = b"".join(hex_bytes(c) for c in vector["chunks_hex"])
    reference, _ = _decode_all(wit.WitMotionDecoder(), [stream])
    # Garbage without a 0x55 can never look like a header; it goes before and after the stream.
    junk = data.draw(st.binary(max_size=40).map(lambda b: b.replace(b"\x55", b"\x00")))
    stream = junk + stream + junk
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    decoder = wit.WitMotionDecoder()
    acc, _ = _decode_all(decoder, chunks)
    np.testing.assert_array_equal(acc, reference)
    assert decoder.skipped_bytes == 2 * len(junk)


def test_resync_prefers_a_confirmed_header_over_a_stray_one_in_garbage() -> None:
    good = wit.encode_imu_packets(np.array([[0, 0, 1.0]] * 3), np.zeros((3, 3)), np.zeros((3, 3)))
    garbage = b"\x01\x55\x61\x02\x03"  # a stray header 3 bytes before the real packets
    decoder = wit.WitMotionDecoder()
    acc, _ = _decode_all(decoder, [garbage + good])
    assert acc.shape == (3, 3)
    np.testing.assert_allclose(acc[:, 2], STANDARD_GRAVITY_MS2)
    assert decoder.skipped_bytes == len(garbage)


def test_register_replies_are_kept_not_decoded_as_samples() -> None:
    reply = bytes((0x55, 0x71, 0x3A, 0x00)) + bytes(range(16))
    imu = wit.encode_imu_packets(np.ones((1, 3)), np.ones((1, 3)), np.ones((1, 3)))
    decoder = wit.WitMotionDecoder()
    acc, _ = _decode_all(decoder, [reply + imu + reply])
    assert acc.shape == (1, 3)
    assert decoder.register_replies == [reply, reply]
    assert _decode_all(wit.WitMotionDecoder(), [reply])[0].shape == (0, 3)


def test_uuids_use_the_vendor_base_ending_9a34fb() -> None:
    for uuid in (wit.WIT_SERVICE_UUID, wit.WIT_NOTIFY_UUID, wit.WIT_WRITE_UUID):
        assert uuid.endswith("-0000-1000-8000-00805f9a34fb")
    data = load(VECTORS)
    if data is not None:
        uuids = data["uuids"]
        assert (
            uuids["service"],
            uuids["notify"],
            uuids["write"],
        ) == (wit.WIT_SERVICE_UUID, wit.WIT_NOTIFY_UUID, wit.WIT_WRITE_UUID)


def test_commands_match_the_vectors() -> None:
    data = load(VECTORS)
    if data is None:
        pytest.skip("WitMotion vectors not found")
    commands = data["commands"]
    assert hex_bytes(commands["unlock"]) == wit.UNLOCK_COMMAND
    assert hex_bytes(commands["save"]) == wit.SAVE_COMMAND
    for rate_hz in (50, 100, 200):
        assert wit.build_rate_command(rate_hz) == hex_bytes(commands[f"set_rate_{rate_hz}hz"])
    assert wit.build_read_register_command(0x3A) == bytes.fromhex("FFAA273A00")
    with pytest.raises(ValueError, match="rate"):
        wit.build_rate_command(60)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(min_size=18, max_size=18), n=st.integers(1, 5))
def test_encoder_is_byte_exact_for_any_packet(raw: bytes, n: int) -> None:
    stream = (b"\x55\x61" + raw) * n
    packets = np.frombuffer(stream, np.uint8).reshape(n, 20)
    assert wit.encode_imu_packets(*wit.decode_imu_packets(packets)) == stream
