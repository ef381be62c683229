"""Synthetic body-frame signals for the gait tests (known steps, so the figures can be checked)."""

from __future__ import annotations

import numpy as np

from imu.constants import STANDARD_GRAVITY_MS2
from imu.gait.body_block import BodyBlock


def running_block(
    *,
    rate_hz: float = 200.0,
    steps: int = 30,
    step_s: float = 0.32,
    contact_s: float = 0.22,
    peak_g: float = 2.6,
) -> tuple[BodyBlock, np.ndarray]:
    """Half-sine stance humps of ``peak_g`` between 0 g flights, mild noise; returns the true IC times."""
    n = round(steps * step_s * rate_hz) + round(0.5 * rate_hz)
    t = np.arange(n) / rate_hz
    ic = 0.25 + step_s * np.arange(steps)
    phase = (t[:, None] - ic[None, :]) / contact_s
    hump = np.where((phase >= 0) & (phase <= 1), np.sin(np.pi * np.clip(phase, 0, 1)), 0.0).sum(axis=1)
    acc_v_g = peak_g * hump + np.random.default_rng(1).normal(0.0, 0.03, n)
    acc = np.zeros((n, 3))
    acc[:, 1] = acc_v_g * STANDARD_GRAVITY_MS2
    return BodyBlock(t, acc, None, 0), ic


def walking_block(
    *, rate_hz: float = 100.0, steps: int = 20, step_s: float = 0.55
) -> tuple[BodyBlock, np.ndarray]:
    """1 g plus a 0.3 g bump per step peaking 40 ms after its IC; returns the true IC times."""
    n = round(steps * step_s * rate_hz) + round(1.0 * rate_hz)
    t = np.arange(n) / rate_hz
    ic = 0.5 + step_s * np.arange(steps)
    bumps = np.exp(-0.5 * ((t[:, None] - ic[None, :] - 0.04) / 0.06) ** 2).sum(axis=1)
    acc = np.zeros((n, 3))
    acc[:, 1] = (1.0 + 0.3 * bumps) * STANDARD_GRAVITY_MS2
    return BodyBlock(t, acc, None, 0), ic
