"""Polar PMD decoder: every shared vector, the delta codec's pitfalls, control point, encoder round trips."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices import polar_pmd as pmd
from imu.devices.base import DecodeError
from tests.devices.vectors import hex_bytes, params

SDK = "polar_pmd_sdk_unit_tests.json"
REAL = "polar_pmd_real_captures.json"
CONTROL = "polar_pmd_control_point.json"


def _xyz(samples: list[dict[str, float]]) -> np.ndarray:
    return np.array([[s["x"], s["y"], s["z"]] for s in samples], dtype=np.float64)


def _assert_device_units(values: np.ndarray, expected: np.ndarray, meas_type: int) -> None:
    if meas_type == pmd.MeasurementType.ACC:
        # The SDK reports integer mG truncated toward zero (Kotlin toInt); we keep the exact product.
        np.testing.assert_array_equal(np.trunc(values), expected)
    else:
        np.testing.assert_allclose(values, expected, rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------- SDK unit-test vectors


@pytest.mark.parametrize("vector", params(SDK, "frames"))
def test_sdk_frame_decodes_to_the_expected_samples(vector: dict[str, Any]) -> None:
    payload = hex_bytes(vector["frame_hex"])
    assert len(payload) == vector["frame_len"]
    context, ref = vector["decode_context"], vector["expected_full_ref"]
    frame = pmd.decode_data_frame(payload, factor=context["factor"])
    assert frame.timestamp_ns == ref["frame_timestamp_ns"]
    assert frame.frame_type == ref["frame_type"]
    assert frame.compressed == ref["compressed"]
    _assert_device_units(frame.values, _xyz(ref["samples"]), frame.meas_type)

    upstream = vector["expected_upstream"]
    assert frame.values.shape == (upstream["sample_count"], 3)
    expected_units = upstream.get("samples_mG", upstream.get("samples_dps", {}))
    for index, sample in expected_units.items():
        _assert_device_units(frame.values[int(index)][None], np.array([sample], float), frame.meas_type)
    if "last_sample_t_ns" in upstream:
        assert frame.timestamp_ns == upstream["last_sample_t_ns"]
    if "raw_counts" in upstream:
        counts = pmd.decode_delta_payload(payload[pmd.HEADER_BYTES :], 3, 16)
        for index, sample in upstream["raw_counts"].items():
            assert counts[int(index)].tolist() == sample


@pytest.mark.parametrize("vector", params(SDK, "frames"))
def test_sdk_frame_sample_times_follow_the_sdk_rule(vector: dict[str, Any]) -> None:
    context, ref = vector["decode_context"], vector["expected_full_ref"]
    frame = pmd.decode_data_frame(hex_bytes(vector["frame_hex"]), factor=context["factor"])
    times = pmd.frame_sample_times_ns(
        frame.timestamp_ns, context["previous_timestamp_ns"], frame.values.shape[0], context["sample_rate_hz"]
    )
    expected = np.array([s["t_ns"] for s in ref["samples"]], dtype=np.float64)
    # Android rounds ties to even, iOS away from zero: 1 ns apart at most (plus float64 spacing near 2^63).
    np.testing.assert_allclose(times, expected, rtol=1e-15, atol=1.0)
    assert times[-1] == frame.timestamp_ns


@pytest.mark.parametrize("vector", params(SDK, "delta_codec_payloads"))
def test_delta_codec_payload(vector: dict[str, Any]) -> None:
    samples = pmd.decode_delta_payload(
        hex_bytes(vector["payload_hex"]), vector["channels"], vector["resolution_bits"]
    )
    ref = vector["expected_full_ref"]
    expected = ref["samples"] if "samples" in ref else [ref["reference_sample"]]
    assert samples.tolist() == expected
    upstream = vector["expected_upstream"]
    for index, sample in upstream.get("int32_bits", upstream.get("samples", {})).items():
        assert samples[int(index)].tolist() == sample
    if "reference_sample" in upstream:
        assert samples[0].tolist() == upstream["reference_sample"]
    if "sample_count" in upstream:
        assert samples.shape[0] == upstream["sample_count"]
    if "samples_as_float32" in ref:
        as_float = samples.astype(np.int32).view(np.float32).astype(np.float64)
        np.testing.assert_array_equal(as_float, np.array(ref["samples_as_float32"], dtype=np.float64))


@pytest.mark.parametrize("vector", params(SDK, "frames"))
def test_every_strict_prefix_of_a_frame_is_rejected_or_a_prefix_of_its_samples(
    vector: dict[str, Any],
) -> None:
    payload = hex_bytes(vector["frame_hex"])
    factor = vector["decode_context"]["factor"]
    full = pmd.decode_data_frame(payload, factor=factor).values
    for length in range(len(payload)):
        try:
            part = pmd.decode_data_frame(payload[:length], factor=factor).values
        except DecodeError:
            continue
        # Only a cut exactly at a block (or raw sample) boundary is a valid, shorter frame.
        np.testing.assert_array_equal(part, full[: part.shape[0]])
        assert part.shape[0] < full.shape[0]


# ---------------------------------------------------------------------------- real captures


@pytest.mark.parametrize("vector", params(REAL, "vectors"))
def test_real_capture(vector: dict[str, Any]) -> None:
    payload = hex_bytes(vector["frame_hex"])
    assert len(payload) == vector["frame_len"]
    if "TRUNCATED" in vector["name"] or "reject" in str(vector.get("expected", "")):
        with pytest.raises(DecodeError, match="truncated"):
            pmd.decode_data_frame(payload)
        if "reference_sample_mG" in vector:
            reference, _ = pmd._read_reference(payload[pmd.HEADER_BYTES :], 3, 16)
            assert reference.tolist() == vector["reference_sample_mG"]
        return
    header = vector["header"]
    frame = pmd.decode_data_frame(payload, factor=vector["assumed_factor"])
    assert frame.meas_type == header["meas_type"]
    assert frame.timestamp_ns == header["timestamp_ns"]
    assert frame.values.shape[0] == vector["sample_count"]
    counts = pmd.decode_delta_payload(payload[pmd.HEADER_BYTES :], 3, 16)
    assert [counts[0].tolist(), counts[-1].tolist()] == vector["raw_counts_first_last"]
    np.testing.assert_array_equal(np.trunc(frame.values[:3]), vector["decoded_by_ref_mG_first3"])
    magnitude_mg = np.linalg.norm(np.trunc(frame.values), axis=1)  # the reference's integer mG
    low, high = vector["magnitude_mG_min_max"]
    assert abs(magnitude_mg.min() - low) < 1 and abs(magnitude_mg.max() - high) < 1


# ---------------------------------------------------------------------------- the delta codec's pitfalls


def _block(width: int, deltas: list[list[int]]) -> bytes:
    """A delta block written bit by bit (independent of the encoder under test)."""
    bits = [(value >> i) & 1 for row in deltas for value in row for i in range(width)]
    bits += [0] * (-len(bits) % 8)
    data = bytes(sum(bits[j + i] << i for i in range(8)) for j in range(0, len(bits), 8))
    return bytes((width, len(deltas))) + data


def test_one_bit_deltas_are_sign_extended_to_minus_one() -> None:
    content = bytes(6) + _block(1, [[1, 0, 1], [0, 1, 0]])
    samples = pmd.decode_delta_payload(content, 3, 16)
    assert samples.tolist() == [[0, 0, 0], [-1, 0, -1], [-1, -1, -1]]


def test_bits_are_read_lsb_first_across_byte_boundaries() -> None:
    content = bytes(6) + _block(5, [[-16, 15, 1], [3, -2, 7]])
    samples = pmd.decode_delta_payload(content, 3, 16)
    assert samples.tolist() == [[0, 0, 0], [-16, 15, 1], [-13, 13, 8]]


def test_sums_wrap_at_32_bits() -> None:
    reference = (0x7FFFFFFF).to_bytes(4, "little") + bytes(8)
    content = reference + _block(2, [[1, -1, 1]])
    samples = pmd.decode_delta_payload(content, 3, 32)
    assert samples.tolist() == [[2**31 - 1, 0, 0], [-(2**31), -1, 1]]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (bytes(5), "reference sample"),
        (bytes(6) + b"\x03", "header truncated"),
        (bytes(6) + b"\x00\x01", "bit width"),
        (bytes(6) + b"\x21\x01" + bytes(13), "bit width"),
        (bytes(6) + b"\x08\x02" + bytes(5), "block truncated"),
    ],
)
def test_malformed_delta_content_is_rejected(content: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        pmd.decode_delta_payload(content, 3, 16)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        bytes(10),
        pmd.encode_data_frame(pmd.MeasurementType.ACC, 5, 1, False, bytes(7)),
        pmd.encode_data_frame(pmd.MeasurementType.ACC, 5, 3, False, bytes(6)),
        pmd.encode_data_frame(pmd.MeasurementType.GYRO, 5, 0, False, bytes(6)),
        pmd.encode_data_frame(pmd.MeasurementType.GYRO, 5, 1, True, bytes.fromhex("0000C07F") + bytes(8)),
    ],
    ids=["empty", "header-only", "raw-partial-sample", "raw-type-3", "gyro-raw", "gyro-nan"],
)
def test_malformed_frames_are_rejected(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        pmd.decode_data_frame(payload)


# ---------------------------------------------------------------------------- control point


def _check_command(vector: dict[str, Any], command: bytes) -> None:
    op = command[0]
    meas = command[1] if len(command) > 1 else None
    if op == pmd.ControlOp.REQUEST_MEASUREMENT_START and meas == pmd.MeasurementType.SDK_MODE:
        rebuilt = pmd.build_sdk_mode_command(enable=True)
    elif op == pmd.ControlOp.STOP_MEASUREMENT and meas == pmd.MeasurementType.SDK_MODE:
        rebuilt = pmd.build_sdk_mode_command(enable=False)
    elif op == pmd.ControlOp.REQUEST_MEASUREMENT_START:
        assert meas is not None
        setting = pmd.parse_settings(command[2:])
        rebuilt = pmd.build_start_command(
            meas,
            int(setting[pmd.SettingType.SAMPLE_RATE][0]),
            int(setting[pmd.SettingType.RESOLUTION][0]),
            int(setting[pmd.SettingType.RANGE][0]),
            int(setting[pmd.SettingType.CHANNELS][0]),
        )
        for name, value in vector.get("expected", {}).items():
            if name in pmd.SettingType.__members__:
                assert setting[pmd.SettingType[name]] == (value,)
        if "meas_type" in vector.get("expected", {}):
            assert meas == pmd.MeasurementType[vector["expected"]["meas_type"]]
    elif op == pmd.ControlOp.GET_MEASUREMENT_SETTINGS and meas is not None:
        rebuilt = pmd.build_get_settings_command(meas)
    elif op == pmd.ControlOp.GET_SDK_MODE_SETTINGS and meas is not None:
        rebuilt = pmd.build_get_sdk_mode_settings_command(meas)
    elif op == pmd.ControlOp.STOP_MEASUREMENT and meas is not None:
        rebuilt = pmd.build_stop_command(meas)
    else:
        assert op == pmd.ControlOp.GET_MEASUREMENT_STATUS
        rebuilt = pmd.build_measurement_status_command()
    assert rebuilt == command


@pytest.mark.parametrize("vector", params(CONTROL, "vectors", where="hex"))
def test_control_point_vector(vector: dict[str, Any]) -> None:
    data = hex_bytes(vector["hex"])
    name, expected = vector["name"], vector.get("expected")
    if vector.get("direction", "").startswith("client->device"):
        _check_command(vector, data)
    elif name.startswith("settings_tlv"):
        if expected == "error":
            with pytest.raises(DecodeError, match="truncated"):
                pmd.parse_settings(data)
        else:
            assert {k.name: list(v) for k, v in pmd.parse_settings(data).items()} == expected
    else:
        message = pmd.parse_control_point(data)
        if isinstance(message, pmd.MeasurementStopped):
            assert data[0] == pmd.MEASUREMENT_STOPPED_CODE
            names = [pmd.MeasurementType(t).name for t in message.meas_types]
            assert names == expected["stopped_types"]
            return
        assert message.op == expected["op"] and message.meas_type == expected["meas_type"]
        assert expected["status"].startswith(message.status_name)
        if "response_code" in expected:
            assert data[0] == expected["response_code"]
        if "more" in expected:
            assert message.more == expected["more"]
        if "parameters_hex" in expected:
            assert message.parameters == hex_bytes(expected["parameters_hex"])
        if "FACTOR" in expected:
            assert message.settings()[pmd.SettingType.FACTOR] == (expected["FACTOR"],)


def test_control_point_uuids_match_the_vectors() -> None:
    from tests.devices.vectors import load

    data = load(CONTROL)
    if data is None:
        pytest.skip("control-point vectors not found")
    uuids = data["uuids"]
    assert uuids["service"].lower() == pmd.PMD_SERVICE_UUID
    assert uuids["control_point"].lower() == pmd.PMD_CONTROL_POINT_UUID
    assert uuids["data"].lower() == pmd.PMD_DATA_UUID


@pytest.mark.parametrize("data", [b"", b"\xf0\x02\x02", b"\x77\x01"])
def test_malformed_control_point_notifications_are_rejected(data: bytes) -> None:
    with pytest.raises(DecodeError):
        pmd.parse_control_point(data)


@pytest.mark.parametrize(("data", "problem"), [(b"\x09\x01\x00", "unknown"), (b"\x05", "header truncated")])
def test_malformed_settings_are_rejected(data: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        pmd.parse_settings(data)


# ---------------------------------------------------------------------------- the stateful decoder


def test_decoder_learns_factor_from_start_response_and_converts_units() -> None:
    decoder = pmd.PolarPmdDecoder(acc_rate_hz=52.0, gyr_rate_hz=52.0)
    start_response = bytes((0xF0, 2, pmd.MeasurementType.GYRO, 0, 0)) + pmd.encode_settings(
        {pmd.SettingType.FACTOR: (0.5,)}
    )
    assert decoder.decode(start_response, channel=pmd.CHANNEL_CONTROL) == []
    assert decoder.factors[pmd.MeasurementType.GYRO] == 0.5

    gyro = pmd.encode_gyro_delta_frame(3_000_000_000, np.array([[10, -20, 30], [12, -22, 28]]))
    (frame,) = decoder.decode(gyro)
    assert frame.acc is None and frame.rate_hz == 52.0 and frame.seq is None
    np.testing.assert_array_equal(frame.gyr, [[5, -10, 15], [6, -11, 14]])
    assert frame.device_time_s == 3.0

    acc = pmd.encode_acc_raw_frame(4_000_000_000, np.array([[0, 0, 1000], [1, -1, 999]]))
    (frame,) = decoder.decode(acc)
    assert frame.gyr is None and frame.n_samples == 2
    np.testing.assert_allclose(frame.acc[0], [0, 0, STANDARD_GRAVITY_MS2])


def test_decoder_skips_other_measurements_and_records_device_stop() -> None:
    decoder = pmd.PolarPmdDecoder()
    ppg = pmd.encode_data_frame(pmd.MeasurementType.PPG, 1, 0, False, bytes(12))
    assert decoder.decode(ppg) == [] and decoder.skipped_frames == 1
    decoder.decode(
        bytes((0x01, pmd.MeasurementType.ACC, pmd.MeasurementType.GYRO)), channel=pmd.CHANNEL_CONTROL
    )
    assert decoder.stopped == {pmd.MeasurementType.ACC, pmd.MeasurementType.GYRO}
    with pytest.raises(DecodeError, match="channel"):
        decoder.decode(ppg, channel=7)


def test_command_builders() -> None:
    acc = pmd.MeasurementType.ACC
    assert (
        pmd.build_start_command(acc, 52, 16, 8, 3).hex(" ")
        == "02 02 00 01 34 00 01 01 10 00 02 01 08 00 04 01 03"
    )
    assert pmd.build_stop_command(pmd.MeasurementType.GYRO) == b"\x03\x05"
    assert pmd.build_get_settings_command(acc) == b"\x01\x02"
    assert pmd.build_measurement_status_command() == b"\x05"


# ---------------------------------------------------------------------------- encoder round trips

_counts16 = hnp.arrays(
    np.int64,
    st.tuples(st.integers(1, 400), st.just(3)),
    elements=st.integers(-32768, 32767),
)


@settings(max_examples=200, deadline=None)
@given(samples=_counts16, block_samples=st.integers(1, 255))
def test_delta_encoder_round_trips_16_bit(samples: np.ndarray, block_samples: int) -> None:
    content = pmd.encode_delta_payload(samples, 16, block_samples)
    assert pmd.decode_delta_payload(content, 3, 16).tolist() == samples.tolist()


@settings(max_examples=100, deadline=None)
@given(
    samples=hnp.arrays(
        np.int64, st.tuples(st.integers(1, 50), st.integers(1, 4)), elements=st.integers(-(2**31), 2**31 - 1)
    )
)
def test_delta_encoder_round_trips_32_bit_with_wrapping_deltas(samples: np.ndarray) -> None:
    content = pmd.encode_delta_payload(samples, 32)
    assert pmd.decode_delta_payload(content, samples.shape[1], 32).tolist() == samples.tolist()


@settings(max_examples=100, deadline=None)
@given(samples=_counts16, timestamp_ns=st.integers(1, 2**63 - 1))
def test_acc_frame_round_trips_through_the_decoder(samples: np.ndarray, timestamp_ns: int) -> None:
    (frame,) = pmd.PolarPmdDecoder().decode(pmd.encode_acc_delta_frame(timestamp_ns, samples, 37))
    assert frame.acc is not None
    np.testing.assert_allclose(frame.acc, samples * (STANDARD_GRAVITY_MS2 / 1000.0), rtol=1e-12)
    assert frame.device_time_s == timestamp_ns / 1e9
