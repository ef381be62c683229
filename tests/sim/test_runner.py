"""The simulated runner: determinism, physical consistency of the truth, mounting, fatigue."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.sim.gait_model import FatigueSettings, GaitSettings
from imu.sim.kinematics import ForceSettings, body_to_heading
from imu.sim.runner import RunnerSettings, SimulatedRun, simulate_run
from imu.sim.sensor import SensorSettings, mounting_matrix, parse_mounting, quantise


@pytest.fixture(scope="module")
def fresh() -> SimulatedRun:
    return simulate_run(RunnerSettings(minutes=2.0, seed=7))


@pytest.fixture(scope="module")
def tired() -> SimulatedRun:
    return simulate_run(RunnerSettings(minutes=12.0, seed=8, fatigue=FatigueSettings.typical()))


def _stride_bounds(run: SimulatedRun) -> np.ndarray:
    left = run.steps.loc[run.steps.side == "L", "t_ic_s"].to_numpy()
    return np.round(left * run.rate_hz).astype(int)


# ------------------------------------------------------------------------------------------ determinism
def test_same_seed_same_output_bit_for_bit() -> None:
    a = simulate_run(RunnerSettings(minutes=0.5, seed=3, fatigue=FatigueSettings.typical()))
    b = simulate_run(RunnerSettings(minutes=0.5, seed=3, fatigue=FatigueSettings.typical()))
    assert np.array_equal(a.samples.acc, b.samples.acc)
    assert np.array_equal(a.samples.gyr, b.samples.gyr)
    assert np.array_equal(a.mounting, b.mounting)
    assert a.steps.equals(b.steps) and a.strides.equals(b.strides)


def test_other_seed_other_run_and_sensor_noise_does_not_move_the_steps() -> None:
    a = simulate_run(RunnerSettings(minutes=0.5, seed=3))
    b = simulate_run(RunnerSettings(minutes=0.5, seed=4))
    assert not np.array_equal(a.steps.t_ic_s, b.steps.t_ic_s[: len(a.steps)])
    noisy = simulate_run(RunnerSettings(minutes=0.5, seed=3, sensor=SensorSettings(acc_noise_ms2=0.5)))
    assert a.steps.equals(noisy.steps)
    assert not np.array_equal(a.samples.acc, noisy.samples.acc)


# ------------------------------------------------------------------------------------ linear physics
def test_mean_vertical_force_over_whole_strides_is_body_weight(fresh: SimulatedRun) -> None:
    v_g = fresh.force_heading_ms2[:, 1] / STANDARD_GRAVITY_MS2
    bounds = _stride_bounds(fresh)
    assert abs(v_g[bounds[0] : bounds[-1]].mean() - 1.0) < 1e-3
    per_stride = np.add.reduceat(v_g[bounds[0] : bounds[-1]], bounds[:-1] - bounds[0]) / np.diff(bounds)
    assert np.all(np.abs(per_stride - 1.0) < 0.02)
    # No net fore-aft or sideways force: constant speed, straight line.
    assert abs(fresh.force_heading_ms2[bounds[0] : bounds[-1], 0].mean()) < 0.01
    assert abs(fresh.force_heading_ms2[bounds[0] : bounds[-1], 2].mean()) < 0.01


def test_flight_is_free_fall_and_standing_is_one_g(fresh: SimulatedRun) -> None:
    t = fresh.samples.t_s
    f_g = fresh.force_heading_ms2 / STANDARD_GRAVITY_MS2
    steps = fresh.steps
    start = steps.t_to_s.to_numpy()[:-1] + 0.015
    stop = steps.t_ic_s.to_numpy()[1:] - 0.015
    idx = np.searchsorted(steps.t_to_s.to_numpy(), t, side="right") - 1
    ok = (idx >= 0) & (idx < len(start))
    in_flight = np.zeros(t.shape[0], dtype=bool)
    in_flight[ok] = (t[ok] >= start[idx[ok]]) & (t[ok] <= stop[idx[ok]])
    assert in_flight.sum() > 1000
    assert np.max(np.abs(f_g[in_flight])) < 0.05
    standing = t < steps.t_ic_s.iloc[0] - 0.05
    assert np.allclose(f_g[standing], [0.0, 1.0, 0.0], atol=1e-3)


def test_braking_follows_initial_contact_and_sway_alternates(fresh: SimulatedRun) -> None:
    f = fresh.force_heading_ms2
    ic = fresh.steps.ic_index.to_numpy()[5:-5]
    tc = np.round(fresh.steps.contact_time_s.to_numpy()[5:-5] * fresh.rate_hz).astype(int)
    early = np.array([f[i : i + t // 3, 0].mean() for i, t in zip(ic, tc, strict=True)])
    late = np.array([f[i + 2 * t // 3 : i + t, 0].mean() for i, t in zip(ic, tc, strict=True)])
    assert np.all(early < 0) and np.all(late > 0)
    lateral = np.array([f[i : i + t, 2].mean() for i, t in zip(ic, tc, strict=True)])
    left = fresh.steps.side.to_numpy()[5:-5] == "L"
    assert np.all(lateral[left] > 0) and np.all(lateral[~left] < 0)  # pushed away from the stance foot


def test_impact_truth_matches_the_signal(fresh: SimulatedRun) -> None:
    steps = fresh.steps
    assert np.all(steps.impact_sampled_g <= steps.impact_g + 0.01)
    assert np.all(steps.impact_sampled_g > 0.85 * steps.impact_g)
    peak_time_s = np.array(
        [np.argmax(fresh.force_heading_ms2[i : i + 60, 1]) / fresh.rate_hz for i in steps.ic_index[2:-2]]
    )
    assert np.all((peak_time_s > 0.010) & (peak_time_s < 0.060))  # the heel-strike transient
    assert np.all(steps.loading_rate_g_per_s > 20)


# ------------------------------------------------------------------------------------ angular physics
def test_gyroscope_integrates_to_the_pelvis_angles(fresh: SimulatedRun) -> None:
    rate = fresh.rate_hz
    body_rate = fresh.gyr_clean_dps @ fresh.mounting.T  # back to the pelvis frame
    first, n = int(10 * rate), int(10 * rate)
    truth = Rotation.from_matrix(body_to_heading(fresh.angles_deg[first : first + n + 1]))
    increments = Rotation.from_rotvec(
        np.deg2rad(0.5 * (body_rate[first : first + n] + body_rate[first + 1 : first + n + 1])) / rate
    )
    orientation = truth[0]
    worst = 0.0
    for k in range(n):
        orientation = orientation * increments[k]
        if k % 50 == 49:
            worst = max(worst, float(np.rad2deg((truth[k + 1].inv() * orientation).magnitude())))
    assert worst < 0.3


def test_pelvis_rhythm_twice_and_once_per_stride(fresh: SimulatedRun) -> None:
    bounds = _stride_bounds(fresh)
    stride_hz = fresh.rate_hz / np.median(np.diff(bounds))
    segment = fresh.angles_deg[bounds[5] : bounds[-5]]
    freqs = np.fft.rfftfreq(segment.shape[0], 1.0 / fresh.rate_hz)
    spectrum = np.abs(np.fft.rfft(segment - segment.mean(axis=0), axis=0))
    dominant = freqs[np.argmax(spectrum, axis=0)]
    assert dominant[0] == pytest.approx(2 * stride_hz, rel=0.03)  # tilt: twice per stride
    assert dominant[1] == pytest.approx(stride_hz, rel=0.03)  # obliquity: once
    assert dominant[2] == pytest.approx(stride_hz, rel=0.03)  # rotation: once


def test_accelerometer_sees_gravity_through_the_pelvis_tilt() -> None:
    run = simulate_run(RunnerSettings(minutes=0.3, seed=5, mounting="upright"))
    standing = run.samples.t_s < run.steps.t_ic_s.iloc[0] - 0.05
    acc = run.acc_clean_ms2[standing].mean(axis=0) / STANDARD_GRAVITY_MS2
    tilt = np.deg2rad(run.settings.pelvis.standing_tilt_deg)
    # Tilting anteriorly turns the forward axis down: gravity shows as -sin(tilt) on ap.
    assert acc == pytest.approx([-np.sin(tilt), np.cos(tilt), 0.0], abs=1e-6)


# ------------------------------------------------------------------------------------------- mounting
def test_mounting_rotation_is_recoverable_from_the_samples(fresh: SimulatedRun) -> None:
    rotation = body_to_heading(fresh.angles_deg)
    force_body = (np.swapaxes(rotation, -1, -2) @ fresh.force_heading_ms2[..., None])[..., 0]
    h = fresh.samples.acc.T @ force_body  # noisy, biased, quantised sensor samples vs. body-frame truth
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    estimate = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    error_deg = np.rad2deg(Rotation.from_matrix(estimate.T @ fresh.mounting).magnitude())
    assert error_deg < 0.5
    assert not np.allclose(fresh.mounting, np.eye(3), atol=0.1)  # a random mounting really is rotated


def test_mounting_specs() -> None:
    rng = np.random.default_rng(0)
    assert np.array_equal(mounting_matrix("upright", rng), np.eye(3))
    m = mounting_matrix((90.0, 0.0, 0.0), rng)
    assert m @ np.array([0.0, 1.0, 0.0]) == pytest.approx([0.0, 0.0, 1.0])
    r = mounting_matrix("random", rng)
    assert r.T @ r == pytest.approx(np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    assert parse_mounting("10,-20,30.5") == (10.0, -20.0, 30.5)
    with pytest.raises(InputError, match="mounting"):
        parse_mounting("sideways")
    with pytest.raises(InputError, match="mounting"):
        parse_mounting("1,2")


def test_quantise_rounds_to_int16_grid_and_clips() -> None:
    full = 16 * STANDARD_GRAVITY_MS2
    lsb = full / 32768
    values = np.array(
        [0.4 * lsb, 0.6 * lsb, -3.2 * lsb, 20 * STANDARD_GRAVITY_MS2, -20 * STANDARD_GRAVITY_MS2]
    )
    assert quantise(values, full) == pytest.approx([0.0, lsb, -3 * lsb, 32767 * lsb, -32768 * lsb])


# -------------------------------------------------------------------------------------------- fatigue
def _slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.polyfit(x, y, 1)[0])


def test_fatigue_drifts_as_configured(tired: SimulatedRun) -> None:
    f = tired.settings.fatigue
    steps, strides = tired.steps, tired.strides.iloc[3:]  # skip the start-up ramp
    progress = np.interp(strides.t_start_s, steps.t_ic_s, steps.fatigue_progress)
    assert _slope(progress, strides.tilt_mean_deg) == pytest.approx(f.tilt_drift_deg, abs=0.4)
    assert _slope(progress, strides.cadence_spm) == pytest.approx(-f.cadence_drop_spm, abs=1.0)
    assert _slope(steps.fatigue_progress, steps.contact_time_s) == pytest.approx(
        f.contact_time_gain_s, abs=0.003
    )

    third = len(strides) // 3
    rom_sd = [strides.tilt_rom_deg.iloc[:third].std(), strides.tilt_rom_deg.iloc[-third:].std()]
    mean_sd = [
        np.std(np.diff(strides.tilt_mean_deg.iloc[:third])),
        np.std(np.diff(strides.tilt_mean_deg.iloc[-third:])),
    ]
    assert rom_sd[1] > 1.4 * rom_sd[0] and mean_sd[1] > 1.4 * mean_sd[0]

    late = steps[steps.fatigue_progress > 0.9]
    left, right = late.impact_g[late.side == "L"].mean(), late.impact_g[late.side == "R"].mean()
    asymmetry_pct = 100 * (left - right) / ((left + right) / 2)
    expected = f.asymmetry_pct * late.fatigue_progress.mean()
    assert asymmetry_pct == pytest.approx(expected, abs=2.5)


def test_fresh_runner_does_not_drift() -> None:
    run = simulate_run(RunnerSettings(minutes=12.0, seed=8))
    steps, strides = run.steps, run.strides.iloc[3:]
    progress = np.interp(strides.t_start_s, steps.t_ic_s, steps.fatigue_progress)
    assert abs(_slope(progress, strides.tilt_mean_deg)) < 0.4
    assert abs(_slope(progress, strides.cadence_spm)) < 1.0
    late = steps[steps.fatigue_progress > 0.9]
    left, right = late.impact_g[late.side == "L"].mean(), late.impact_g[late.side == "R"].mean()
    assert abs(100 * (left - right) / ((left + right) / 2)) < 2.5


# ---------------------------------------------------------------------------------------- bad settings
@pytest.mark.parametrize(
    "make",
    [
        lambda: GaitSettings(speed_ms=0.5),
        lambda: GaitSettings(first_side="X"),
        lambda: GaitSettings(contact_time_s=0.4),
        lambda: ForceSettings(foot_strike="midfoot"),
        lambda: SensorSettings(rate_hz=10),
        lambda: RunnerSettings(minutes=0),
        lambda: RunnerSettings(
            force=ForceSettings(foot_strike="forefoot"), fatigue=FatigueSettings(asymmetry_pct=5)
        ),
    ],
)
def test_bad_settings_are_input_errors(make: object) -> None:
    with pytest.raises(InputError):
        make()  # type: ignore[operator]


def test_forefoot_has_no_transient_but_keeps_body_weight() -> None:
    run = simulate_run(RunnerSettings(minutes=0.5, seed=2, force=ForceSettings(foot_strike="forefoot")))
    bounds = _stride_bounds(run)
    v_g = run.force_heading_ms2[bounds[0] : bounds[-1], 1] / STANDARD_GRAVITY_MS2
    assert abs(v_g.mean() - 1.0) < 1e-3
    peak_phase = [
        np.argmax(run.force_heading_ms2[i : i + int(tc * run.rate_hz), 1]) / (tc * run.rate_hz)
        for i, tc in zip(run.steps.ic_index[2:-2], run.steps.contact_time_s[2:-2], strict=True)
    ]
    assert np.all(np.abs(np.array(peak_phase) - 0.5) < 0.1)  # a single mid-stance peak
