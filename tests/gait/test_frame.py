"""The body-frame stage: known rotations recovered, stated mounting, slips, no look-ahead, up fixed once
established, edges, streaming == batch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from imu.constants import STANDARD_GRAVITY_MS2 as G
from imu.errors import InputError
from imu.gait.frame import BodyFrameStage, Mounting, concat_body, rotation_angle_deg
from imu.gait.stage import run_batch, run_stream
from imu.samples import SampleBlock

RATE_HZ = 100.0
ANGLE_TOLERANCE_DEG = 10.0
"""A found frame must be within this rotation angle of the true one (synthetic gait, small noise)."""


def synthetic_run(seconds: float, step_s: float = 0.35, seed: int = 0, rate_hz: float = RATE_HZ):
    """Body-frame running: stance humps with braking then propulsion, flight at 0 g, sides L R L R…

    Returns t_s, acc (ap, v, ml) m/s², gyr (ap, v, ml) deg/s, IC times and sides. Right steps: ml
    acceleration negative, roll rate negative, yaw rate positive (the cues the side classifier uses).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    k = np.floor(t / step_s).astype(int)
    phase = (t - k * step_s) / step_s
    side = np.where(k % 2 == 0, -1.0, 1.0)  # L, R, L, …
    stance = phase < 0.6
    x = np.pi * phase / 0.6
    acc = np.zeros((t.size, 3))
    acc[:, 1] = np.where(stance, np.pi / 1.2 * G * np.sin(x), 0.0)
    acc[:, 0] = np.where(stance, -0.3 * G * np.sin(2 * x), 0.0)
    acc[:, 2] = np.where(stance, -side * 0.2 * G * np.sin(x), 0.0)
    gyr = np.zeros((t.size, 3))
    gyr[:, 0] = np.where(stance, -side * 20 * np.sin(x), 0.0)
    gyr[:, 1] = side * 30 * np.sin(np.pi * phase)
    gyr[:, 2] = 10 * np.sin(2 * np.pi * phase)
    acc += rng.normal(0, 0.05, acc.shape)
    gyr += rng.normal(0, 0.5, gyr.shape)
    ics = np.arange(k.max() + 1) * step_s
    sides = np.where(np.arange(ics.size) % 2 == 0, "L", "R")
    return t, acc, gyr, ics, sides


def to_sensor(acc: np.ndarray, gyr: np.ndarray, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body → sensor for a mounting whose rows are the body axes in sensor coordinates."""
    return acc @ rotation, gyr @ rotation


def random_rotation(seed: int) -> np.ndarray:
    return Rotation.random(random_state=seed).as_matrix()


@pytest.mark.parametrize("seed", range(6))
def test_known_random_rotation_recovered(seed: int) -> None:
    t, acc, gyr, _, _ = synthetic_run(40.0, seed=seed)
    rot = random_rotation(seed)
    a, g = to_sensor(acc, gyr, rot)
    stage = BodyFrameStage(RATE_HZ)
    body = run_batch(stage, SampleBlock(t, a, g), concat_body)
    assert rotation_angle_deg(stage.rotation_, rot) < ANGLE_TOLERANCE_DEG
    assert stage.confidence_ > 0.8
    assert body.acc[-500:, 1].mean() == pytest.approx(G, rel=0.05)
    assert not stage.events_


def test_stated_mounting_skips_estimation() -> None:
    t, acc, gyr, _, _ = synthetic_run(5.0)
    m = Mounting.parse("up=+x,forward=-z")
    a, g = to_sensor(acc, gyr, m.rotation)
    stage = BodyFrameStage(RATE_HZ, mounting=m)
    body = run_batch(stage, SampleBlock(t, a, g), concat_body)
    np.testing.assert_allclose(body.acc, acc, atol=1e-9)
    assert stage.confidence_ == 1.0
    assert all(np.array_equal(s.rotation, m.rotation) for s in stage.segments_)


def test_mounting_names_and_bad_input() -> None:
    m = Mounting.from_axes("+x", "-z")
    np.testing.assert_allclose(m.rotation[1], [1, 0, 0])
    np.testing.assert_allclose(m.rotation[0], [0, 0, -1])
    np.testing.assert_allclose(m.rotation[2], np.cross(m.rotation[0], m.rotation[1]))
    for bad in ("up=+x", "up=+x,forward=+x", "up=+w,forward=-z"):
        with pytest.raises(InputError):
            Mounting.parse(bad)
    with pytest.raises(InputError):
        Mounting(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(InputError):
        BodyFrameStage(0.0)


def test_slip_is_detected_and_realigned() -> None:
    t, acc, gyr, _, _ = synthetic_run(90.0, seed=3)
    before, after = random_rotation(10), random_rotation(11)
    cut = int(45 * RATE_HZ)
    a1, g1 = to_sensor(acc[:cut], gyr[:cut], before)
    a2, g2 = to_sensor(acc[cut:], gyr[cut:], after)
    stage = BodyFrameStage(RATE_HZ)
    run_batch(stage, SampleBlock(t, np.vstack([a1, a2]), np.vstack([g1, g2])), concat_body)
    assert len(stage.events_) == 1
    event = stage.events_[0]
    assert abs(event.index - cut) <= stage.settings.slip_window_s * RATE_HZ + stage.settings.hop_s * RATE_HZ
    assert event.realigned
    assert rotation_angle_deg(stage.rotation_, after) < ANGLE_TOLERANCE_DEG
    # what was emitted between the slip and its confirmation kept the old (fixed) up
    old_up = [sg for sg in stage.segments_ if sg.start_index <= event.index][-1].rotation[1]
    held = [sg for sg in stage.segments_ if event.index <= sg.start_index < event.index + 3 * RATE_HZ]
    assert all(np.array_equal(sg.rotation[1], old_up) for sg in held)
    assert rotation_angle_deg(stage.segments_[-1].rotation, after) < ANGLE_TOLERANCE_DEG


@pytest.mark.parametrize("sizes", [[1] * 300, [7, 0, 130, 1, 333]])
def test_no_look_ahead_and_what_the_first_hop_gets(sizes: list[int]) -> None:
    """Every sample comes out in the call that brings it; the first hop is rotated with up along the first
    sample's acceleration, forward a placeholder, confidence 0."""
    t, acc, gyr, _, _ = synthetic_run(10.0, seed=2)
    rot = random_rotation(2)
    a, g = to_sensor(acc, gyr, rot)
    stage = BodyFrameStage(RATE_HZ)
    assert stage.look_ahead_s == 0.0
    for block in SampleBlock(t, a, g).chunks(sizes):
        assert len(stage.update(block)) == len(block)
    first = stage.segments_[0]
    assert first.start_index == 0 and first.confidence == 0.0
    np.testing.assert_allclose(first.rotation[1], a[0] / np.linalg.norm(a[0]))
    assert stage.segments_[1].start_index == round(stage.settings.hop_s * RATE_HZ)


def test_up_is_fixed_once_established_so_slow_tilt_stays_in_the_output() -> None:
    """The sensor tilts forward by 12° over a minute (below the slip angle): up stays where it was fixed,
    so the tilt shows as gravity on the ap axis instead of being absorbed by re-commits."""
    seconds, tilt_deg = 90.0, 12.0
    t, acc, gyr, _, _ = synthetic_run(seconds, seed=4)
    rot = random_rotation(4)
    angle = np.radians(np.clip((t - 20.0) / 60.0, 0.0, 1.0) * tilt_deg)
    # tilting the body forward about ml by angle: the body sees gravity move towards +ap
    ca, sa = np.cos(angle), np.sin(angle)
    tilted = acc.copy()
    tilted[:, 0] = ca * acc[:, 0] + sa * acc[:, 1]
    tilted[:, 1] = -sa * acc[:, 0] + ca * acc[:, 1]
    a = np.einsum("ni,ij->nj", tilted, rot)
    stage = BodyFrameStage(RATE_HZ)
    body = run_batch(stage, SampleBlock(t, a, gyr @ rot), concat_body)
    assert stage.up_fixed_ and not stage.events_
    late = body.t_s > seconds - 10.0
    ap_mean_g = body.acc[late, 0].mean() / G
    # the stance humps average to 1 g vertical; re-commits beyond 3° would leave at most sin(3°) ≈ 0.05 g
    assert ap_mean_g == pytest.approx(np.sin(np.radians(tilt_deg)), rel=0.1)
    ups = {tuple(sg.rotation[1]) for sg in stage.segments_ if sg.start_index > 25 * RATE_HZ}
    assert len(ups) == 1


def test_empty_and_short_inputs_give_typed_outputs() -> None:
    stage = BodyFrameStage(RATE_HZ)
    out = stage.update(SampleBlock.empty())
    assert len(out) == 0 and out.acc.shape == (0, 3) and out.gyr is not None
    assert len(stage.flush()) == 0
    stage = BodyFrameStage(RATE_HZ)
    one = SampleBlock(np.array([0.0]), np.array([[0.0, 0.0, G]]), None, start_index=7)
    body = concat_body([stage.update(one), stage.flush()])
    assert len(body) == 1 and body.gyr is None and body.start_index == 7
    assert body.acc[0, 1] == pytest.approx(G)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=30), st.integers(0, 5))
def test_streaming_equals_batch(sizes: list[int], seed: int) -> None:
    t, acc, gyr, _, _ = synthetic_run(30.0, seed=seed)
    cut = int(15 * RATE_HZ)  # a slip mid-stream, so re-alignment is covered too
    rot1, rot2 = random_rotation(seed), random_rotation(seed + 50)
    a = np.vstack([acc[:cut] @ rot1, acc[cut:] @ rot2])
    g = np.vstack([gyr[:cut] @ rot1, gyr[cut:] @ rot2])
    samples = SampleBlock(t, a, g, start_index=3)
    settings_ = BodyFrameStage(RATE_HZ).settings
    batch_stage = BodyFrameStage(RATE_HZ, settings_)
    batch = run_batch(batch_stage, samples, concat_body)
    stream_stage = BodyFrameStage(RATE_HZ, settings_)
    stream = run_stream(stream_stage, samples.chunks(sizes), concat_body)
    assert stream.start_index == batch.start_index == 3
    assert np.array_equal(stream.t_s, batch.t_s)
    assert np.array_equal(stream.acc, batch.acc)
    assert stream.gyr is not None and batch.gyr is not None
    assert np.array_equal(stream.gyr, batch.gyr)
    assert stream_stage.events_ == batch_stage.events_


@pytest.mark.realdata
def test_voisard_forward_found_in_every_test_trial(shared_data) -> None:
    """Regression: the found forward axis has the mounting's sign in all 24 test trials (measured 24/24)."""
    from benchmarks.accuracy.sides import (
        VOISARD,
        body_of,
        forward_sign_ok,
        mounting_frame,
        truth_steps,
        voisard_trials,
    )

    trials = [tr for tr in voisard_trials(shared_data / VOISARD) if int(tr[0].split("-")[0]) >= 6]
    assert len(trials) == 24
    ok = 0
    for _, rec in trials:
        _, stage = body_of(rec, None)
        ok += forward_sign_ok(stage, mounting_frame(rec), int(truth_steps(rec)[0][-1]))
    assert ok >= 23  # measured 24/24; one trial of margin


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=90), min_size=1, max_size=40), st.integers(0, 3))
@example(sizes=[0, 0, 0, 0, 0, 0, 19, 19, 17, 0, 21] + [90] * 14, seed=1)  # a slip event's onset once read a
# ring slot that the same call had already overwritten when one call closed more hops than the ring holds
def test_streaming_equals_batch_across_many_window_groups(sizes: list[int], seed: int) -> None:
    """A 3 s window (6 hops): the running window sums cross many group boundaries; the output must still
    be bit-identical for any chunking (sizes 0 and 1 included)."""
    from imu.gait.frame import FrameSettings

    t, acc, gyr, _, _ = synthetic_run(20.0, seed=seed)
    cut = int(10 * RATE_HZ)
    rot1, rot2 = random_rotation(seed), random_rotation(seed + 50)
    a = np.vstack([acc[:cut] @ rot1, acc[cut:] @ rot2])
    samples = SampleBlock(t, a, np.vstack([gyr[:cut] @ rot1, gyr[cut:] @ rot2]), start_index=57)
    short = FrameSettings(window_s=3.0, full_gait_s=2.0, up_fix_gait_s=2.0)
    batch_stage, stream_stage = BodyFrameStage(RATE_HZ, short), BodyFrameStage(RATE_HZ, short)
    batch = run_batch(batch_stage, samples, concat_body)
    stream = run_stream(stream_stage, samples.chunks(sizes + [1] * 7), concat_body)
    assert np.array_equal(stream.acc, batch.acc) and np.array_equal(stream.gyr, batch.gyr)
    assert stream_stage.events_ == batch_stage.events_
    assert [s.start_index for s in stream_stage.segments_] == [s.start_index for s in batch_stage.segments_]


def test_filters_are_the_boxcar_cascades_exactly_for_any_chunking() -> None:
    """The band-pass (three boxcars minus two long ones) and the flight low-pass (three boxcars) equal the
    floating-point convolutions to the input rounding, and give the same bits however the stream is cut."""
    from imu.gait.frame import _CascadeFilters

    rng = np.random.default_rng(0)
    acc = G + np.cumsum(rng.normal(0.0, 0.3, (3, 3000)), axis=1)

    def kernel(length: int, order: int) -> np.ndarray:
        h = np.ones(1)
        for _ in range(order):
            h = np.convolve(h, np.ones(length) / length)
        return h

    def run(filters: _CascadeFilters, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        band, low = np.empty_like(x), np.empty_like(x)
        filters.update(x, band, low)
        return band, low

    whole = _CascadeFilters(208.0, (0.5, 5.0), 5.0)
    band, low = run(whole, acc)
    before = np.concatenate([np.repeat(acc[:, :1], 1000, axis=1), acc], axis=1)  # the first sample before
    short = np.array([np.convolve(r, kernel(whole.short, 3))[1000:4000] for r in before])
    long = np.array([np.convolve(r, kernel(whole.long, 2))[1000:4000] for r in before])
    assert np.max(np.abs(low - short)) < 1e-5 and np.max(np.abs(band - (short - long))) < 1e-5
    pieces = _CascadeFilters(208.0, (0.5, 5.0), 5.0)
    out = [
        run(pieces, acc[:, a:b]) for a, b in ((0, 1), (1, 2), (2, 900), (900, 900), (900, 3000), (3000, 3000))
    ]
    assert np.array_equal(np.concatenate([o[0] for o in out], axis=1), band)
    assert np.array_equal(np.concatenate([o[1] for o in out], axis=1), low)


def test_the_gait_stages_do_not_import_scipy_signal() -> None:
    """Importing scipy.signal costs ~0.6 s of every `imu analyze` start-up; frame, bouts and the FIR
    low-pass do without it."""
    import subprocess
    import sys

    code = (
        "import sys, imu.gait.frame, imu.gait.bouts, imu.gait.lowpass; print('scipy.signal' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
