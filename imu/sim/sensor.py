"""The simulated sensor: how it is mounted and what its readings get wrong.

The mounting is a rotation ``M`` taking sensor-frame vectors into the pelvis (body) frame,
``v_body = M @ v_sensor``, so the sensor reads ``Mᵀ f_body`` and ``Mᵀ ω_body``. ``upright`` is the identity
(sensor axes along ``ap, v, ml``); ``random`` is a uniformly random rotation; three angles ``x,y,z`` in
degrees are extrinsic rotations about the body axes in that order.

Readings get a constant per-axis bias (drawn once per run), white noise, then quantisation to the int16
grid of the configured range (``range / 32768`` per count, the grid every int16 IMU register uses) with
clipping at the ends of that range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError

FloatArray = NDArray[np.float64]

INT16_FULL_SCALE = 32768
"""Counts per full-scale range of a signed 16-bit register."""


@dataclass(frozen=True)
class SensorSettings:
    """Rate, ranges and error magnitudes (noise per sample, bias standard deviation across runs)."""

    rate_hz: float = 208.0
    acc_range_g: float = 16.0
    gyr_range_dps: float = 2000.0
    acc_noise_ms2: float = 0.02
    gyr_noise_dps: float = 0.07
    acc_bias_sd_ms2: float = 0.05
    gyr_bias_sd_dps: float = 0.5

    def __post_init__(self) -> None:
        if not 50.0 <= self.rate_hz <= 2000.0:
            raise InputError("sampling rate out of range", expected="50–2000 Hz", found=f"{self.rate_hz} Hz")
        if self.acc_range_g <= 0 or self.gyr_range_dps <= 0:
            raise InputError(
                "sensor ranges must be positive", found=f"{self.acc_range_g} g, {self.gyr_range_dps} deg/s"
            )


def mounting_matrix(spec: str | tuple[float, float, float], rng: np.random.Generator) -> FloatArray:
    """The sensor-to-body rotation for ``upright``, ``random`` or angles ``(x, y, z)`` in degrees."""
    if isinstance(spec, str):
        if spec == "upright":
            return np.eye(3)
        if spec == "random":
            q = rng.standard_normal(4)
            matrix: FloatArray = Rotation.from_quat(q / np.linalg.norm(q)).as_matrix()
            return matrix
        raise InputError(
            "unknown mounting", expected="random, upright or three angles x,y,z in degrees", found=spec
        )
    angles = np.asarray(spec, dtype=np.float64)
    if angles.shape != (3,) or not np.all(np.isfinite(angles)):
        raise InputError("mounting angles", expected="three finite angles in degrees", found=str(spec))
    out: FloatArray = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    return out


def parse_mounting(text: str) -> str | tuple[float, float, float]:
    """``random``, ``upright`` or ``DEG,DEG,DEG`` from the command line."""
    if text in ("random", "upright"):
        return text
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise InputError("mounting", expected="random, upright or three angles DEG,DEG,DEG", found=repr(text))
    return (values[0], values[1], values[2])


def quantise(values: FloatArray, full_scale: float) -> FloatArray:
    """Round to the int16 grid of ``±full_scale`` and clip at the range (what the sensor's register holds)."""
    counts = np.clip(
        np.rint(values * (INT16_FULL_SCALE / full_scale)), -INT16_FULL_SCALE, INT16_FULL_SCALE - 1
    )
    out: FloatArray = counts * (full_scale / INT16_FULL_SCALE)
    return out


def measure(
    acc_clean_ms2: FloatArray,
    gyr_clean_dps: FloatArray,
    settings: SensorSettings,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray, dict[str, list[float]]]:
    """Add bias and noise to clean sensor-frame signals and quantise them; also return the biases drawn."""
    n = acc_clean_ms2.shape[0]
    acc_bias = settings.acc_bias_sd_ms2 * rng.standard_normal(3)
    gyr_bias = settings.gyr_bias_sd_dps * rng.standard_normal(3)
    acc = acc_clean_ms2 + acc_bias + settings.acc_noise_ms2 * rng.standard_normal((n, 3))
    gyr = gyr_clean_dps + gyr_bias + settings.gyr_noise_dps * rng.standard_normal((n, 3))
    acc = quantise(acc, settings.acc_range_g * STANDARD_GRAVITY_MS2)
    gyr = quantise(gyr, settings.gyr_range_dps)
    return acc, gyr, {"acc_bias_ms2": acc_bias.tolist(), "gyr_bias_dps": gyr_bias.tolist()}
