"""Pelvis motion of a simulated runner: centre-of-mass accelerations and pelvis angles.

Linear motion (spring-mass running, per step)
=============================================

The sensor sits at the sacrum, taken as the pelvis origin, which moves with the centre of mass. What an
accelerometer there measures is the specific force ``f = a + g·up`` = ground reaction force / body mass,
so everything here is a force profile in g, in the heading frame (``ap`` forward, ``v`` up, ``ml`` right):

- vertical, stance: a half-sine (the spring-mass active peak) plus, for rearfoot strikers, a heel-strike
  transient (a Gaussian ``impact_delay_s`` after initial contact); flight: exactly 0 g (free fall).
  The half-sine amplitude is solved per step so that the stance impulse equals ``g × step time``:
  vertical velocity is then periodic and the mean specific force over any whole number of steps is 1 g
  (mean ground force = body weight).
- fore-aft, stance: braking then propulsion (one sine period, zero net impulse: constant speed), plus a
  braking spike at the heel strike whose impulse is returned by a half-sine (net impulse still zero).
- mediolateral, stance: a half-sine pushing away from the stance foot, so the pelvis sways toward the
  stance side; the left and right impulses cancel over a stride.

Pelvis angles (per stride, ISB pelvis frame)
============================================

Stride phase ``φ`` runs from 0 at a left initial contact to 0.5 at the right one. Anterior tilt oscillates
twice per stride, obliquity and rotation once (Schache et al. 1999, 2002; Novacheck 1998):

- ``tilt_deg`` (positive anterior) = mean + ROM/2 · cos(4π(φ - 0.15)): most anterior near toe-off;
- ``obliquity_deg`` (positive: right side lower) = ROM/2 · cos(2π(φ - 0.08)): the swing side drops
  during the opposite stance;
- ``rotation_deg`` (positive: to the left, counter-clockwise from above) = -ROM/2 · cos(2π(φ - 0.05)):
  the pelvis turns toward the stepping side at initial contact.

Stride-to-stride variability draws each stride's mean tilt and amplitudes at random; between strides the
parameters are interpolated linearly, so angles stay continuous. Orientation is the sequence
``R = R_v(rotation) · R_ap(obliquity) · R_ml(-tilt)`` (body to heading frame; anterior tilt is a negative
right-hand rotation about the rightward axis). The body angular velocity follows exactly from the
angle rates: ``ω = R_ml(-tilt)ᵀ R_ap(obl)ᵀ (0, ṙot, 0) + R_ml(-tilt)ᵀ (ȯbl, 0, 0) + (0, 0, -ṫilt)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf

from imu.errors import InputError
from imu.sim.gait_model import FatigueSettings, GaitSettings, StepPlan

FloatArray = NDArray[np.float64]

SQRT2 = float(np.sqrt(2.0))


@dataclass(frozen=True)
class ForceSettings:
    """Shape of the per-step force profile at the sacrum (g and seconds).

    Defaults: a sacral rearfoot profile at ≈ 3.3 m/s, a sharp heel-strike transient 30 ms after contact
    on top of a ≈ 2.1 g active peak (peak vertical ground force ≈ 2.5 BW, Patoz et al. 2022; the sacrum
    sees the heel-strike transient less attenuated than the whole-body centre of mass).
    """

    foot_strike: str = "rearfoot"
    impact_transient_g: float = 2.0
    impact_delay_s: float = 0.030
    impact_width_s: float = 0.007
    impact_cv_pct: float = 10.0
    braking_g_per_ms: float = 0.10
    braking_spike_fraction: float = 0.4
    sway_g: float = 0.12

    def __post_init__(self) -> None:
        if self.foot_strike not in ("rearfoot", "forefoot"):
            raise InputError(
                "unknown foot strike", expected="rearfoot or forefoot", found=repr(self.foot_strike)
            )

    @property
    def transient_g(self) -> float:
        return self.impact_transient_g if self.foot_strike == "rearfoot" else 0.0


@dataclass(frozen=True)
class PelvisSettings:
    """Pelvis angles of the fresh runner (degrees) and their stride-to-stride variability."""

    tilt_mean_deg: float = 15.0
    tilt_rom_deg: float = 6.0
    obliquity_rom_deg: float = 8.5
    rotation_rom_deg: float = 11.0
    standing_tilt_deg: float = 12.0
    tilt_mean_sd_deg: float = 0.4
    rom_cv_pct: float = 8.0
    ramp_s: float = 2.0


@dataclass(frozen=True, eq=False)
class StepForces:
    """Per-step force parameters (g): half-sine amplitude, transient height, braking and sway amplitudes."""

    active_g: FloatArray
    transient_g: FloatArray
    braking_g: FloatArray
    spike_g: FloatArray
    sway_g: FloatArray


# ------------------------------------------------------------------------------------------------ forces
def _gaussian(s: FloatArray, delay_s: float, width_s: float) -> FloatArray:
    out: FloatArray = np.exp(-0.5 * ((s - delay_s) / width_s) ** 2)
    return out


def _gaussian_area_s(contact_s: FloatArray, delay_s: float, width_s: float) -> FloatArray:
    """Integral of the unit Gaussian pulse over the stance ``[0, contact]`` (seconds)."""
    lo = erf((0.0 - delay_s) / (SQRT2 * width_s))
    hi = erf((contact_s - delay_s) / (SQRT2 * width_s))
    out: FloatArray = width_s * np.sqrt(np.pi / 2.0) * (hi - lo)
    return out


def asymmetry_gain(force: ForceSettings, gait: GaitSettings, asymmetry_pct: FloatArray) -> FloatArray:
    """Half the relative difference of the L/R transient heights that gives the wanted peak asymmetry.

    The impact peak is ≈ active-curve height at the transient + transient height ``B``; scaling ``B`` by
    ``1 ± x`` changes the peaks by ``± x B``, so ``x = a (h + B) / (2 B)`` for asymmetry ``a``. A forefoot
    strike has no transient, hence no asymmetry to inject (the caller refuses that combination).
    """
    a = np.asarray(asymmetry_pct, dtype=np.float64) / 100.0
    b = force.transient_g
    if b <= 0:
        return np.zeros_like(a)
    step_s = 60.0 / gait.step_cadence_spm
    stance = gait.stance_s
    area = float(_gaussian_area_s(np.array([stance]), force.impact_delay_s, force.impact_width_s)[0])
    active = (step_s - b * area) * np.pi / (2.0 * stance)
    h = active * np.sin(np.pi * force.impact_delay_s / stance)
    out: FloatArray = a * (h + b) / (2.0 * b)
    return out


def step_forces(
    plan: StepPlan,
    gait: GaitSettings,
    force: ForceSettings,
    fatigue: FatigueSettings,
    rng: np.random.Generator,
) -> StepForces:
    """Per-step amplitudes: varied transient (with the fatigue asymmetry), impulse-balanced half-sine."""
    n = len(plan)
    side_sign = np.where(plan.is_left, 1.0, -1.0)
    x = asymmetry_gain(force, gait, fatigue.asymmetry_pct * plan.progress)
    variation = 1.0 + force.impact_cv_pct / 100.0 * rng.standard_normal(n)
    tc = plan.contact_time_s
    transient = force.transient_g * (1.0 + side_sign * x) * variation
    area = _gaussian_area_s(tc, force.impact_delay_s, force.impact_width_s)
    active = (plan.step_time_s - transient * area) * np.pi / (2.0 * tc)
    braking = np.full(n, force.braking_g_per_ms * gait.speed_ms)
    spike = force.braking_spike_fraction * transient
    sway = np.full(n, force.sway_g)
    return StepForces(active, transient, braking, spike, sway)


def specific_force_g(t_s: FloatArray, plan: StepPlan, forces: StepForces, force: ForceSettings) -> FloatArray:
    """(N, 3) specific force in g, heading frame columns ``ap, v, ml``, at times ``t_s``.

    Before the first step the runner stands still (1 g up); between steps the body is in flight (0 g).
    """
    out = np.zeros((t_s.shape[0], 3))
    idx = np.searchsorted(plan.t_ic_s, t_s, side="right") - 1
    standing = idx < 0
    out[standing, 1] = 1.0
    running = ~standing & (idx < len(plan))
    i = idx[running]
    s = t_s[running] - plan.t_ic_s[i]
    tc = plan.contact_time_s[i]
    stance = s < tc
    phase = np.where(stance, s / tc, 0.0)
    half_sine = np.sin(np.pi * phase) * stance
    pulse = _gaussian(s, force.impact_delay_s, force.impact_width_s) * stance

    vertical = forces.active_g[i] * half_sine + forces.transient_g[i] * pulse
    spike_area = forces.spike_g[i] * _gaussian_area_s(tc, force.impact_delay_s, force.impact_width_s)
    fore_aft = (
        -forces.braking_g[i] * np.sin(2.0 * np.pi * phase) * stance
        - forces.spike_g[i] * pulse
        + spike_area * np.pi / (2.0 * tc) * half_sine
    )
    side_sign = np.where(plan.is_left[i], 1.0, -1.0)  # left stance pushes the pelvis to the right (+ml)
    lateral = side_sign * forces.sway_g[i] * half_sine
    out[running] = np.column_stack((fore_aft, vertical, lateral))
    return out


# ------------------------------------------------------------------------------------------------ pelvis
@dataclass(frozen=True, eq=False)
class StrideParameters:
    """Per-stride pelvis parameters (degrees), one entry per left initial contact."""

    t_s: FloatArray
    tilt_mean_deg: FloatArray
    tilt_amp_deg: FloatArray
    obliquity_amp_deg: FloatArray
    rotation_amp_deg: FloatArray


def stride_parameters(
    plan: StepPlan, pelvis: PelvisSettings, fatigue: FatigueSettings, rng: np.random.Generator
) -> StrideParameters:
    """Each stride's mean tilt and half-ROMs, with fatigue drift and growing stride-to-stride spread."""
    left = np.flatnonzero(plan.is_left)
    p = plan.progress[left]
    n = left.shape[0]
    spread = 1.0 + fatigue.tilt_variability_growth_pct / 100.0 * p
    cv = pelvis.rom_cv_pct / 100.0
    noise = rng.standard_normal((4, n))
    return StrideParameters(
        t_s=plan.t_ic_s[left],
        tilt_mean_deg=pelvis.tilt_mean_deg
        + fatigue.tilt_drift_deg * p
        + pelvis.tilt_mean_sd_deg * spread * noise[0],
        tilt_amp_deg=pelvis.tilt_rom_deg / 2.0 * (1.0 + cv * spread * noise[1]),
        obliquity_amp_deg=pelvis.obliquity_rom_deg / 2.0 * (1.0 + cv * noise[2]),
        rotation_amp_deg=pelvis.rotation_rom_deg / 2.0 * (1.0 + cv * noise[3]),
    )


def stride_phase(t_s: FloatArray, plan: StepPlan) -> FloatArray:
    """Stride phase 0..1 (0 at a left initial contact, 0.5 at a right one); 0 before the first step."""
    idx = np.clip(np.searchsorted(plan.t_ic_s, t_s, side="right") - 1, 0, len(plan) - 1)
    u = np.clip((t_s - plan.t_ic_s[idx]) / plan.step_time_s[idx], 0.0, 1.0)
    out: FloatArray = (u + np.where(plan.is_left[idx], 0.0, 1.0)) / 2.0
    return out


def pelvis_angles_deg(
    t_s: FloatArray, plan: StepPlan, strides: StrideParameters, pelvis: PelvisSettings
) -> FloatArray:
    """(N, 3) true pelvis angles ``tilt, obliquity, rotation`` in degrees at times ``t_s``."""
    phi = stride_phase(t_s, plan)
    t0 = float(plan.t_ic_s[0])
    ramp = np.clip((t_s - t0) / pelvis.ramp_s, 0.0, 1.0)
    envelope = 0.5 - 0.5 * np.cos(np.pi * ramp)
    tilt_mean = np.interp(t_s, strides.t_s, strides.tilt_mean_deg)
    tilt = pelvis.standing_tilt_deg + (tilt_mean - pelvis.standing_tilt_deg) * envelope
    tilt = tilt + envelope * np.interp(t_s, strides.t_s, strides.tilt_amp_deg) * np.cos(
        4.0 * np.pi * (phi - 0.15)
    )
    obliquity = (
        envelope * np.interp(t_s, strides.t_s, strides.obliquity_amp_deg) * np.cos(2.0 * np.pi * (phi - 0.08))
    )
    rotation = (
        -envelope * np.interp(t_s, strides.t_s, strides.rotation_amp_deg) * np.cos(2.0 * np.pi * (phi - 0.05))
    )
    return np.column_stack((tilt, obliquity, rotation))


def _rot_x(a: FloatArray) -> FloatArray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack((np.stack((o, z, z), -1), np.stack((z, c, -s), -1), np.stack((z, s, c), -1)), -2)


def _rot_y(a: FloatArray) -> FloatArray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack((np.stack((c, z, s), -1), np.stack((z, o, z), -1), np.stack((-s, z, c), -1)), -2)


def _rot_z(a: FloatArray) -> FloatArray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack((np.stack((c, -s, z), -1), np.stack((s, c, z), -1), np.stack((z, z, o), -1)), -2)


def body_to_heading(angles_deg: FloatArray) -> FloatArray:
    """(N, 3, 3) rotations taking pelvis-frame vectors (ap, v, ml) into the heading frame."""
    tilt, obl, rot = np.deg2rad(angles_deg).T
    out: FloatArray = _rot_y(rot) @ _rot_x(obl) @ _rot_z(-tilt)
    return out


def body_rate_dps(angles_deg: FloatArray, angle_rates_dps: FloatArray) -> FloatArray:
    """(N, 3) pelvis angular velocity, body frame (``ap, v, ml``, deg/s), from the angles and their rates."""
    tilt, obl, _ = np.deg2rad(angles_deg).T
    d_tilt, d_obl, d_rot = angle_rates_dps.T
    zeros = np.zeros_like(d_rot)
    rz_t = np.swapaxes(_rot_z(-tilt), -1, -2)
    rx_t = np.swapaxes(_rot_x(obl), -1, -2)
    about_v = (rz_t @ rx_t @ np.column_stack((zeros, d_rot, zeros))[..., None])[..., 0]
    about_ap = (rz_t @ np.column_stack((d_obl, zeros, zeros))[..., None])[..., 0]
    out: FloatArray = about_v + about_ap + np.column_stack((zeros, zeros, -d_tilt))
    return out
