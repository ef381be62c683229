"""Step timing of a simulated runner: alternating steps, contact times, their variability and fatigue.

A run is a sequence of steps. Step ``i`` starts at its initial contact ``t_ic_s[i]``, its foot leaves the
ground after ``contact_time_s[i]`` (toe-off) and the flight that follows lasts until the next initial
contact, so ``step_time_s[i] = t_ic_s[i + 1] - t_ic_s[i]``. Sides alternate ``L R L R ...``.

Stride-to-stride variability is a first-order autoregressive process (consecutive steps are correlated, as
measured step times are), scaled to the configured coefficient of variation.

Fatigue progresses linearly with the running time (``progress`` 0 at the first step, 1 at the end of the
run): cadence falls by ``cadence_drop_spm``, contact time grows by ``contact_time_gain_s``, and one side's
impact grows relative to the other until ``asymmetry_pct`` is reached (see :mod:`imu.sim.kinematics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from imu.constants import SIDES
from imu.errors import InputError

FloatArray = NDArray[np.float64]

REFERENCE_SPEED_MS = 3.3
"""The speed at which the default cadence and contact time below are stated."""

CADENCE_AT_REFERENCE_SPM = 170.0
"""Preferred cadence at 3.3 m/s: van Oeveren et al. 2019 (Eur J Sport Sci, doi:10.1080/17461391.2019.1626911)
measured 165 ± 8 steps/min at 3.04 m/s and +3 steps/min for +15 % speed."""

CADENCE_SLOPE_SPM_PER_MS = 6.5
"""Cadence change per m/s of speed (van Oeveren et al. 2019: +3 steps/min for +0.46 m/s)."""

CONTACT_AT_REFERENCE_S = 0.235
"""Contact time at 3.3 m/s: 0.20–0.24 s at 3.33 m/s in Alcantara et al. 2022 (PeerJ 10:e12752) and a mean
of ≈ 0.25 s at 2.5–3.6 m/s in Patoz et al. 2022 (Sensors 22:784)."""

CONTACT_SPEED_EXPONENT = 0.56
"""Contact time ∝ speed^-0.56: Alcantara et al. 2022, level (0.259 s at 2.5 m/s, 0.196 s at 4.17 m/s)."""

AR_COEFFICIENT = 0.5
"""Lag-one correlation of consecutive step-time and contact-time deviations."""


@dataclass(frozen=True)
class FatigueSettings:
    """How the runner drifts from the first step (fresh) to the last (tired); all changes are linear in time.

    ``tilt_drift_deg``: change of the mean anterior pelvic tilt (positive: more anterior tilt).
    ``tilt_variability_growth_pct``: growth of the stride-to-stride tilt standard deviations (mean and ROM).
    ``asymmetry_pct``: impact asymmetry reached at the end, ``100 (L - R) / mean``; positive: left harder.
    ``cadence_drop_spm``: fall of the cadence. ``contact_time_gain_s``: lengthening of the contact time.
    """

    tilt_drift_deg: float = 0.0
    tilt_variability_growth_pct: float = 0.0
    asymmetry_pct: float = 0.0
    cadence_drop_spm: float = 0.0
    contact_time_gain_s: float = 0.0

    @classmethod
    def typical(cls) -> FatigueSettings:
        """A clearly visible, plausible fatigue pattern for a long run (the ``--fatigue`` preset)."""
        return cls(
            tilt_drift_deg=3.0,
            tilt_variability_growth_pct=100.0,
            asymmetry_pct=10.0,
            cadence_drop_spm=6.0,
            contact_time_gain_s=0.015,
        )

    @property
    def is_fresh(self) -> bool:
        return not any(
            (
                self.tilt_drift_deg,
                self.tilt_variability_growth_pct,
                self.asymmetry_pct,
                self.cadence_drop_spm,
                self.contact_time_gain_s,
            )
        )


@dataclass(frozen=True)
class GaitSettings:
    """Step timing of the fresh runner. ``None`` cadence or contact time: derived from the speed."""

    speed_ms: float = REFERENCE_SPEED_MS
    cadence_spm: float | None = None
    contact_time_s: float | None = None
    step_time_cv_pct: float = 2.0
    contact_time_cv_pct: float = 3.0
    first_side: str = "L"

    def __post_init__(self) -> None:
        if not 1.5 <= self.speed_ms <= 7.0:
            raise InputError("running speed out of range", expected="1.5–7 m/s", found=f"{self.speed_ms} m/s")
        if self.first_side not in SIDES:
            raise InputError("unknown first side", expected="L or R", found=repr(self.first_side))
        if self.step_cadence_spm <= 100 or self.step_cadence_spm > 240:
            raise InputError(
                "cadence out of range", expected="100–240 steps/min", found=f"{self.step_cadence_spm}"
            )
        step_s = 60.0 / self.step_cadence_spm
        if not 0.05 < self.stance_s < 0.85 * step_s:
            raise InputError(
                "contact time does not fit the step",
                expected=f"0.05 s < contact < {0.85 * step_s:.3f} s (85 % of the step time)",
                found=f"{self.stance_s:.3f} s",
            )

    @property
    def step_cadence_spm(self) -> float:
        if self.cadence_spm is not None:
            return float(self.cadence_spm)
        return CADENCE_AT_REFERENCE_SPM + CADENCE_SLOPE_SPM_PER_MS * (self.speed_ms - REFERENCE_SPEED_MS)

    @property
    def stance_s(self) -> float:
        if self.contact_time_s is not None:
            return float(self.contact_time_s)
        return CONTACT_AT_REFERENCE_S * (REFERENCE_SPEED_MS / self.speed_ms) ** CONTACT_SPEED_EXPONENT


@dataclass(frozen=True, eq=False)
class StepPlan:
    """The steps of a run (arrays of one entry per step). ``progress`` is the fatigue progress 0..1."""

    t_ic_s: FloatArray
    contact_time_s: FloatArray
    step_time_s: FloatArray
    is_left: NDArray[np.bool_]
    progress: FloatArray

    def __len__(self) -> int:
        return int(self.t_ic_s.shape[0])

    @property
    def t_to_s(self) -> FloatArray:
        return self.t_ic_s + self.contact_time_s

    @property
    def t_end_s(self) -> float:
        """End of the last step (the instant the next initial contact would happen)."""
        return float(self.t_ic_s[-1] + self.step_time_s[-1])

    @property
    def sides(self) -> NDArray[np.str_]:
        return np.where(self.is_left, "L", "R")


def correlated_noise(rng: np.random.Generator, n: int, coefficient: float = AR_COEFFICIENT) -> FloatArray:
    """Unit-variance AR(1) noise: consecutive values correlated with ``coefficient``."""
    white = rng.standard_normal(n) * np.sqrt(1.0 - coefficient**2)
    start = rng.standard_normal()
    out: FloatArray = lfilter([1.0], [1.0, -coefficient], white, zi=[coefficient * start])[0]
    return out


def plan_steps(
    t_start_s: float,
    running_s: float,
    gait: GaitSettings,
    fatigue: FatigueSettings,
    rng: np.random.Generator,
) -> StepPlan:
    """All complete steps of a run starting at ``t_start_s`` and lasting at most ``running_s`` seconds."""
    if running_s <= 0:
        raise InputError("running time must be positive", found=f"{running_s} s")
    cadence0 = gait.step_cadence_spm
    n_max = int(running_s * (cadence0 + 30.0) / 60.0) + 4
    time_noise = correlated_noise(rng, n_max) * gait.step_time_cv_pct / 100.0
    contact_noise = correlated_noise(rng, n_max) * gait.contact_time_cv_pct / 100.0

    # The cadence depends on the fatigue progress, which depends on the step times: a few fixed-point passes.
    step_s = 60.0 / cadence0 * (1.0 + time_noise)
    for _ in range(4):
        t_ic = t_start_s + np.concatenate(([0.0], np.cumsum(step_s)[:-1]))
        progress = np.clip((t_ic - t_start_s) / running_s, 0.0, 1.0)
        step_s = 60.0 / (cadence0 - fatigue.cadence_drop_spm * progress) * (1.0 + time_noise)
    t_ic = t_start_s + np.concatenate(([0.0], np.cumsum(step_s)[:-1]))
    keep = t_ic + step_s <= t_start_s + running_s
    n = int(np.count_nonzero(keep))
    if n < 4:
        raise InputError(
            "the run is too short to hold a stride", expected="at least 4 steps", found=f"{n} steps"
        )
    t_ic, step_s, progress = t_ic[:n], step_s[:n], progress[:n]

    contact = (gait.stance_s + fatigue.contact_time_gain_s * progress) * (1.0 + contact_noise[:n])
    contact = np.minimum(contact, 0.85 * step_s)
    first_left = gait.first_side == "L"
    is_left = (np.arange(n) % 2 == 0) == first_left
    return StepPlan(t_ic, contact, step_s, is_left, progress)
