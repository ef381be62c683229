"""The fresh simulated runner against published running figures for the lower back (3–3.5 m/s).

Each range names its source. The model's defaults were chosen from these same sources, so this test
guards the model against drifting away from them (through its shape, the pelvis-angle composition, the
sensor filter); it is not an independent validation. What it checks is computed from the simulated
signals and truth tables, never copied from the settings.
"""

from __future__ import annotations

import numpy as np
import pytest

from imu.constants import STANDARD_GRAVITY_MS2
from imu.sim.runner import RunnerSettings, SimulatedRun, simulate_run


@pytest.fixture(scope="module")
def run() -> SimulatedRun:
    return simulate_run(RunnerSettings(minutes=3.0, seed=11))


@pytest.fixture(scope="module")
def strides(run: SimulatedRun):  # type: ignore[no-untyped-def]
    return run.strides.iloc[3:]  # after the start-up ramp


def test_cadence(run: SimulatedRun) -> None:
    # van Oeveren et al. 2019, Eur J Sport Sci, doi:10.1080/17461391.2019.1626911: 21 recreational runners
    # outdoors at 3.04 ± 0.28 m/s, preferred step frequency 165 ± 8 steps/min (+3 at 15 % faster):
    # 150–190 steps/min covers that mean ± 2–3 SD.
    cadence_spm = 60.0 / run.steps.step_time_s.mean()
    assert 150.0 <= cadence_spm <= 190.0


def test_contact_and_flight_time(run: SimulatedRun) -> None:
    # Alcantara et al. 2022, PeerJ 10:e12752 (sacral accelerometer + force treadmill; data in
    # shared/data/alcantara2022_sacral_running_grf): mean contact 0.19–0.26 s over 2.5–4.17 m/s.
    # Patoz et al. 2022, Sensors 22:784 (100 runners, 9–13 km/h, sacral IMU): contact-time RMSE 20 ms was
    # 8 % (mean ≈ 0.25 s) and flight-time RMSE 20 ms was 18 % (mean ≈ 0.11 s).
    assert 0.18 <= run.steps.contact_time_s.mean() <= 0.30
    assert 0.05 <= run.steps.flight_time_s.mean() <= 0.15


def test_peak_vertical_acceleration(run: SimulatedRun) -> None:
    # At the sacrum (≈ centre of mass) the vertical specific force equals vertical GRF / body mass.
    # Patoz et al. 2022: peak vertical GRF RMSE 0.15 BW was 6 % → mean peak ≈ 2.5 BW at 2.5–3.6 m/s;
    # Cavanagh & Lafortune 1980, J Biomech 13:397: vertical GRF peak-to-peak ≈ 3 BW at 4.5 m/s.
    # A skin-mounted sacral sensor adds the heel-strike transient on top, hence up to 4.5 g
    # (the range the lumbar/sacral running literature reports at 3–4 m/s).
    assert 2.3 <= run.steps.impact_g.mean() <= 4.5
    assert 2.3 <= run.steps.impact_sampled_g.mean() <= 4.5
    resultant_g = np.linalg.norm(run.samples.acc, axis=1) / STANDARD_GRAVITY_MS2
    assert 2.3 <= np.percentile(resultant_g, 99.5) <= 5.0


def test_stance_mean_and_flight_vertical_acceleration(run: SimulatedRun) -> None:
    # Alcantara et al. 2022 data (PROVENANCE.md there): sacral vertical acceleration averages 1.62 g over
    # stance and 0.11 g in flight (their 20 Hz filter smears the stance into the flight). Free fall reads
    # 0 g; the stance mean must be 1 g × step time / contact time, 1.3–1.9 g at these timings.
    v_g = run.force_heading_ms2[:, 1] / STANDARD_GRAVITY_MS2
    ic = run.steps.ic_index.to_numpy()[4:-4]
    n = np.round(run.steps.contact_time_s.to_numpy()[4:-4] * run.rate_hz).astype(int)
    stance_mean = np.array([v_g[i : i + k].mean() for i, k in zip(ic, n, strict=True)])
    assert 1.3 <= stance_mean.mean() <= 1.9


def test_pelvis_angles(strides) -> None:  # type: ignore[no-untyped-def]
    # Perpiñá-Martínez et al. 2023, IJERPH 20:3631 (pelvis IMU, running, by sex and speed): tilt ROM
    # 5.92–6.50° (men), obliquity ROM 7.84–9.27°, rotation ROM 9.69–13.60°. Ranges below: those group means
    # ± 1° for runners between the groups.
    assert 4.9 <= strides.tilt_rom_deg.mean() <= 7.5
    assert 6.8 <= strides.obliquity_rom_deg.mean() <= 10.3
    assert 8.7 <= strides.rotation_rom_deg.mean() <= 14.6
    # Schache et al. 2000, Br J Sports Med 34:279, Fig. 3: mean anterior tilt of 14 runners ≈ 10–30°.
    assert 10.0 <= strides.tilt_mean_deg.mean() <= 30.0
    # Left/right symmetric pelvis: obliquity and rotation average ≈ 0.
    assert abs(strides.obliquity_mean_deg.mean()) < 0.5
    assert abs(strides.rotation_mean_deg.mean()) < 0.5
