"""Movesense GSP IMU6 decoder: the shared vectors, split messages, clock unwrapping, encoder round trips."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imu.devices import movesense as ms
from imu.devices.base import DecodeError
from tests.devices.vectors import hex_bytes, load, params

VECTORS = "movesense_gsp_synthetic.json"


def _data(ref: int, timestamp_ms: int, n: int, value: float = 1.0) -> bytes:
    acc = np.full((n, 3), value)
    (single,) = ms.encode_imu6_notifications(ref, timestamp_ms, acc, -acc, max_bytes=4096)
    return single


@pytest.mark.parametrize("vector", params(VECTORS, "vectors"))
def test_vector(vector: dict[str, Any]) -> None:
    decoder = ms.MovesenseDecoder(rate_hz=104.0)
    expected = vector["expected"]
    if "hex" in vector:
        payload = hex_bytes(vector["hex"])
        assert payload[0] == expected["type"] and payload[1] == expected["ref"]
        (frame,) = decoder.decode(payload)
    else:
        assert decoder.decode(hex_bytes(vector["part1_hex"])) == []
        (frame,) = decoder.decode(hex_bytes(vector["part2_hex"]))
    n = frame.n_samples
    assert frame.device_time_s == pytest.approx(expected["timestamp_ms"] / 1000 + (n - 1) / 104.0, abs=1e-12)
    if "acc" in expected:
        np.testing.assert_array_equal(frame.acc, expected["acc"])
        np.testing.assert_array_equal(frame.gyr, expected["gyro"])
    if "samples" in expected:
        assert n == expected["samples"]
    if "acc_z_all" in expected:
        assert frame.acc is not None
        np.testing.assert_array_equal(frame.acc[:, 2], expected["acc_z_all"])


@pytest.mark.parametrize("vector", params(VECTORS, "vectors"))
def test_truncated_vectors_are_never_emitted(vector: dict[str, Any]) -> None:
    payload = hex_bytes(vector.get("hex") or vector["part1_hex"] + vector["part2_hex"][6:])
    n_samples = (len(payload) - 2 - ms.TIMESTAMP_BYTES) // ms.SAMPLE_BYTES
    for length in range(len(payload)):
        # IMU6 carries no sample count: only a known count per message catches a cut at a sample boundary.
        body_bytes = length - 2 - ms.TIMESTAMP_BYTES
        if body_bytes > 0 and body_bytes % ms.SAMPLE_BYTES == 0:
            (looks_complete,) = ms.MovesenseDecoder().decode(payload[:length])
            assert looks_complete.n_samples == body_bytes // ms.SAMPLE_BYTES
        decoder = ms.MovesenseDecoder(samples_per_message=n_samples)
        try:
            frames = decoder.decode(payload[:length])
        except DecodeError:
            continue
        assert frames == []  # a cut message waits for a part 2 that never completes it...
        with pytest.raises(DecodeError):
            decoder.decode(b"\x03" + payload[1:2])  # ...and an empty part 2 is rejected


def test_commands_match_the_vectors() -> None:
    data = load(VECTORS)
    if data is None:
        pytest.skip("Movesense vectors not found")
    for name, command in data["commands"].items():
        ref = int(re.search(r"ref=(\d+)", name).group(1))  # type: ignore[union-attr]
        if name.startswith("hello"):
            built = ms.build_hello(ref)
        elif name.startswith("subscribe IMU6"):
            built = ms.build_imu6_subscribe(ref, int(re.search(r"@(\d+) Hz", name).group(1)))  # type: ignore[union-attr]
        else:
            assert name.startswith("unsubscribe")
            built = ms.build_unsubscribe(ref)
        assert built == hex_bytes(command), name
    uuids = data["uuids"]
    assert (
        uuids["service"],
        uuids["write"],
        uuids["notify"],
    ) == (ms.GSP_SERVICE_UUID, ms.GSP_WRITE_UUID, ms.GSP_NOTIFY_UUID)


def test_part2_without_part1_is_rejected() -> None:
    decoder = ms.MovesenseDecoder()
    with pytest.raises(DecodeError, match="part 2 without"):
        decoder.decode(b"\x03\x63" + bytes(24))


def test_part2_of_another_reference_is_rejected() -> None:
    decoder = ms.MovesenseDecoder()
    first, _ = ms.encode_imu6_notifications(5, 0, np.ones((8, 3)), np.ones((8, 3)))
    assert decoder.decode(first) == []
    with pytest.raises(DecodeError, match="reference 5"):
        decoder.decode(b"\x03\x06" + bytes(43))


def test_a_superseded_first_part_is_dropped_and_counted() -> None:
    decoder = ms.MovesenseDecoder()
    first, _ = ms.encode_imu6_notifications(5, 0, np.ones((8, 3)), np.ones((8, 3)))
    decoder.decode(first)
    (frame,) = decoder.decode(_data(5, 100, 2))
    assert frame.n_samples == 2 and decoder.skipped_messages == 1


def test_samples_per_message_makes_a_split_at_a_sample_boundary_explicit() -> None:
    decoder = ms.MovesenseDecoder(samples_per_message=4)
    body = _data(7, 0, 4)[2:]
    part1, part2 = b"\x02\x07" + body[: 4 + 2 * 24], b"\x03\x07" + body[4 + 2 * 24 :]
    assert decoder.decode(part1) == []
    (frame,) = decoder.decode(part2)
    assert frame.n_samples == 4


def test_other_references_and_command_results() -> None:
    decoder = ms.MovesenseDecoder(ref=99)
    assert decoder.decode(_data(3, 0, 1)) == [] and decoder.skipped_messages == 1
    assert decoder.decode(b"\x01\x01Hello") == [] and decoder.command_results[1] == b"Hello"
    with pytest.raises(DecodeError, match="message type"):
        decoder.decode(b"\x09\x63")
    with pytest.raises(DecodeError, match="too short"):
        decoder.decode(b"\x02")
    with pytest.raises(DecodeError, match="NaN"):
        decoder.decode(b"\x02\x63" + bytes(4) + bytes.fromhex("0000C07F") + bytes(20))


def test_millisecond_clock_wraps_forward() -> None:
    decoder = ms.MovesenseDecoder(rate_hz=100.0)
    (before,) = decoder.decode(_data(1, 2**32 - 10, 1))
    (after,) = decoder.decode(_data(1, 10, 1))
    assert after.device_time_s is not None and before.device_time_s is not None
    assert after.device_time_s - before.device_time_s == pytest.approx(0.020)


_vec3 = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 12), st.just(3)),
    elements=st.floats(-1e4, 1e4, width=32, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(acc=_vec3, seed=st.integers(0, 2**32 - 1), timestamp_ms=st.integers(0, 2**32 - 1))
def test_encoder_round_trips(acc: np.ndarray, seed: int, timestamp_ms: int) -> None:
    gyr = np.random.default_rng(seed).normal(0, 300, acc.shape).astype(np.float32)
    decoder = ms.MovesenseDecoder(rate_hz=52.0)
    frames = [f for p in ms.encode_imu6_notifications(9, timestamp_ms, acc, gyr) for f in decoder.decode(p)]
    (frame,) = frames
    np.testing.assert_array_equal(frame.acc, acc.astype(np.float64))
    np.testing.assert_array_equal(frame.gyr, gyr.astype(np.float64))
    assert frame.device_time_s == pytest.approx(timestamp_ms / 1000 + (acc.shape[0] - 1) / 52.0)
