"""Assembly of a simulated run: steps → forces and pelvis angles → sensor readings, with the ground truth.

The physics is evaluated on a fine time grid (≥ 800 Hz) and brought to the sensor's rate through a
zero-phase polyphase anti-alias filter (standing in for the sensor's internal digital filter, without its
delay, so truth times need no correction). The recording's time axis is ``sample index / rate_hz``.

Every random draw comes from one seed, split into independent streams (gait, forces, pelvis, mounting,
sensor): the same settings and seed give bit-identical output, and changing e.g. the sensor noise does
not change the steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.signal import resample_poly

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.samples import SampleBlock
from imu.sim.gait_model import FatigueSettings, GaitSettings, StepPlan, plan_steps
from imu.sim.kinematics import (
    ForceSettings,
    PelvisSettings,
    StepForces,
    body_rate_dps,
    body_to_heading,
    pelvis_angles_deg,
    specific_force_g,
    step_forces,
    stride_parameters,
)
from imu.sim.sensor import SensorSettings, measure, mounting_matrix

FloatArray = NDArray[np.float64]

FINE_RATE_MIN_HZ = 800.0
"""The physics grid is at least this fast, so the ≈ 7 ms heel-strike transient is well resolved."""

TRUTH_GRID_S = 0.0002
"""Resolution of the per-step grid on which the true impact peak and loading rate are found."""


@dataclass(frozen=True)
class RunnerSettings:
    """Everything that defines a simulated run (stored in the session's metadata)."""

    minutes: float = 10.0
    seed: int = 0
    standing_s: float = 5.0
    mounting: str | tuple[float, float, float] = "random"
    gait: GaitSettings = field(default_factory=GaitSettings)
    force: ForceSettings = field(default_factory=ForceSettings)
    pelvis: PelvisSettings = field(default_factory=PelvisSettings)
    fatigue: FatigueSettings = field(default_factory=FatigueSettings)
    sensor: SensorSettings = field(default_factory=SensorSettings)

    def __post_init__(self) -> None:
        if not 0 < self.minutes <= 600:
            raise InputError("run length out of range", expected="0–600 minutes", found=f"{self.minutes}")
        if self.standing_s < 0:
            raise InputError("standing time must not be negative", found=f"{self.standing_s} s")
        if self.fatigue.asymmetry_pct and self.force.transient_g <= 0:
            raise InputError(
                "impact asymmetry needs a heel-strike transient",
                expected="foot_strike rearfoot with asymmetry",
                found=self.force.foot_strike,
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SimulatedRun:
    """A simulated run: what the sensor reports (no packet loss yet) and what really happened.

    ``samples``: sensor frame, m/s² and deg/s, with bias, noise and quantisation. The clean arrays are the
    same signals without sensor errors. ``angles_deg`` (tilt, obliquity, rotation), ``force_heading_ms2``
    (specific force in the heading frame ``ap, v, ml``) and ``body_rate_dps`` (pelvis frame) are per sample.
    ``mounting`` takes sensor vectors into the pelvis frame. ``steps`` and ``strides`` are the truth tables.
    """

    settings: RunnerSettings
    samples: SampleBlock
    acc_clean_ms2: FloatArray
    gyr_clean_dps: FloatArray
    angles_deg: FloatArray
    force_heading_ms2: FloatArray
    body_rate_dps: FloatArray
    mounting: FloatArray
    steps: pd.DataFrame
    strides: pd.DataFrame
    sensor_biases: dict[str, list[float]]

    @property
    def rate_hz(self) -> float:
        return self.settings.sensor.rate_hz

    def meta(self) -> dict[str, Any]:
        """Settings and hidden parameters, JSON-ready (the mounting as a row-major 3 × 3 list)."""
        return {
            "simulator": "imu.sim",
            "settings": self.settings.to_dict(),
            "mounting_matrix": self.mounting.tolist(),
            "mounting_convention": "v_body(ap, v, ml) = M @ v_sensor(x, y, z)",
            "sensor_biases": self.sensor_biases,
            "n_steps": len(self.steps),
            "duration_s": len(self.samples) / self.rate_hz,
        }


def simulate_run(settings: RunnerSettings) -> SimulatedRun:
    """Simulate one run (see the module docstring)."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(settings.seed).spawn(5)]
    gait_rng, force_rng, pelvis_rng, mount_rng, sensor_rng = streams
    rate = settings.sensor.rate_hz
    plan = plan_steps(settings.standing_s, settings.minutes * 60.0, settings.gait, settings.fatigue, gait_rng)
    forces = step_forces(plan, settings.gait, settings.force, settings.fatigue, force_rng)
    stride_params = stride_parameters(plan, settings.pelvis, settings.fatigue, pelvis_rng)
    mounting = mounting_matrix(settings.mounting, mount_rng)

    factor = math.ceil(FINE_RATE_MIN_HZ / rate)
    n = math.floor(plan.t_end_s * rate)
    t_s = np.arange(n) / rate
    t_fine = np.arange(n * factor) / (rate * factor)

    force_g = resample_poly(
        specific_force_g(t_fine, plan, forces, settings.force), 1, factor, axis=0, padtype="line"
    )
    force_heading = force_g[:n] * STANDARD_GRAVITY_MS2

    angles_fine = pelvis_angles_deg(t_fine, plan, stride_params, settings.pelvis)
    rates_fine = np.gradient(angles_fine, 1.0 / (rate * factor), axis=0, edge_order=2)
    angles = angles_fine[::factor]
    omega_body = body_rate_dps(angles, rates_fine[::factor])

    rotation = body_to_heading(angles)
    force_body = (np.swapaxes(rotation, -1, -2) @ force_heading[..., None])[..., 0]
    acc_clean = force_body @ mounting
    gyr_clean = omega_body @ mounting
    acc, gyr, biases = measure(acc_clean, gyr_clean, settings.sensor, sensor_rng)

    steps = step_truth(plan, forces, settings.force, force_g[:n, 1], rate)
    strides = stride_truth(plan, angles_fine, rate * factor)
    return SimulatedRun(
        settings=settings,
        samples=SampleBlock(t_s, acc, gyr),
        acc_clean_ms2=acc_clean,
        gyr_clean_dps=gyr_clean,
        angles_deg=angles,
        force_heading_ms2=force_heading,
        body_rate_dps=omega_body,
        mounting=mounting,
        steps=steps,
        strides=strides,
        sensor_biases=biases,
    )


# ------------------------------------------------------------------------------------------------ truth
def _first_crossing_s(values: FloatArray, threshold: FloatArray, grid_s: float) -> FloatArray:
    """Per row, the linearly interpolated time of the first upward crossing of ``threshold`` (row-wise)."""
    above = values >= threshold[:, None]
    j = np.maximum(np.argmax(above, axis=1), 1)
    rows = np.arange(values.shape[0])
    v0, v1 = values[rows, j - 1], values[rows, j]
    frac = np.clip((threshold - v0) / np.where(v1 > v0, v1 - v0, 1.0), 0.0, 1.0)
    out: FloatArray = (j - 1 + frac) * grid_s
    return out


def step_truth(
    plan: StepPlan, forces: StepForces, force: ForceSettings, sampled_vertical_g: FloatArray, rate_hz: float
) -> pd.DataFrame:
    """One row per step: timing, the true peak vertical specific force and the loading rate toward it.

    ``impact_g``: peak of the vertical specific force during the stance (g), on a 0.2 ms grid (the physics,
    before the sensor's filter); ``impact_sampled_g``: the same peak among the sensor's (noise-free,
    filtered) samples, the best any detector can see. ``loading_rate_g_per_s``: mean slope between 20 %
    and 80 % of ``impact_g`` on the rising edge after initial contact.
    """
    n = len(plan)
    grid = np.arange(0.0, float(plan.contact_time_s.max()) + TRUTH_GRID_S, TRUTH_GRID_S)
    peak = np.empty(n)
    rate_g_per_s = np.empty(n)
    for start in range(0, n, 512):
        sl = slice(start, min(n, start + 512))
        tc = plan.contact_time_s[sl, None]
        stance = grid[None, :] < tc
        phase = np.where(stance, grid[None, :] / tc, 0.0)
        pulse = np.exp(-0.5 * ((grid[None, :] - force.impact_delay_s) / force.impact_width_s) ** 2)
        vertical = (
            forces.active_g[sl, None] * np.sin(np.pi * phase) + forces.transient_g[sl, None] * pulse
        ) * stance
        peak[sl] = vertical.max(axis=1)
        t20 = _first_crossing_s(vertical, 0.2 * peak[sl], TRUTH_GRID_S)
        t80 = _first_crossing_s(vertical, 0.8 * peak[sl], TRUTH_GRID_S)
        rate_g_per_s[sl] = 0.6 * peak[sl] / np.maximum(t80 - t20, TRUTH_GRID_S)

    first = np.ceil(plan.t_ic_s * rate_hz).astype(np.int64)
    last = np.minimum(np.floor(plan.t_to_s * rate_hz).astype(np.int64) + 1, sampled_vertical_g.shape[0])
    bounds = np.column_stack((first, last)).ravel()
    sampled_peak = np.maximum.reduceat(sampled_vertical_g, bounds)[::2]

    return pd.DataFrame(
        {
            "step": np.arange(n, dtype=np.int64),
            "t_ic_s": plan.t_ic_s,
            "t_to_s": plan.t_to_s,
            "ic_index": np.round(plan.t_ic_s * rate_hz).astype(np.int64),
            "side": plan.sides,
            "contact_time_s": plan.contact_time_s,
            "step_time_s": plan.step_time_s,
            "flight_time_s": plan.step_time_s - plan.contact_time_s,
            "impact_g": peak,
            "impact_sampled_g": sampled_peak,
            "loading_rate_g_per_s": rate_g_per_s,
            "fatigue_progress": plan.progress,
        }
    )


def stride_truth(plan: StepPlan, angles_fine_deg: FloatArray, fine_rate_hz: float) -> pd.DataFrame:
    """One row per complete stride (left initial contact to the next): pelvis means and ranges of motion."""
    left_ic = plan.t_ic_s[plan.is_left]
    ends = np.append(left_ic[1:], np.inf)
    complete = ends <= plan.t_end_s
    t_start, t_end = left_ic[complete], ends[complete]
    first = np.ceil(t_start * fine_rate_hz).astype(np.int64)
    last = np.minimum(np.ceil(t_end * fine_rate_hz).astype(np.int64), angles_fine_deg.shape[0])
    bounds = np.column_stack((first, last)).ravel()
    top = np.maximum.reduceat(angles_fine_deg, bounds, axis=0)[::2]
    bottom = np.minimum.reduceat(angles_fine_deg, bounds, axis=0)[::2]
    total = np.add.reduceat(angles_fine_deg, bounds, axis=0)[::2]
    mean = total / (last - first)[:, None]
    return pd.DataFrame(
        {
            "stride": np.arange(t_start.shape[0], dtype=np.int64),
            "t_start_s": t_start,
            "t_end_s": t_end,
            "cadence_spm": 120.0 / (t_end - t_start),
            "tilt_mean_deg": mean[:, 0],
            "tilt_rom_deg": top[:, 0] - bottom[:, 0],
            "obliquity_mean_deg": mean[:, 1],
            "obliquity_rom_deg": top[:, 1] - bottom[:, 1],
            "rotation_mean_deg": mean[:, 2],
            "rotation_rom_deg": top[:, 2] - bottom[:, 2],
        }
    )
