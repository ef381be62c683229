"""Streaming attitude of a sensor during running: gyroscope-driven, levelled by stride-averaged gravity.

Why not a textbook complementary filter
=======================================
A Mahony/Madgwick filter pulls the attitude toward the measured acceleration sample by sample, trusting it
to be gravity. At the lower back during running it is not: vertical acceleration swings from 0 g in flight
to 2–4 g at impact and the braking/propulsion swing is ±0.5 g, so a per-sample correction tilts the
estimate by tens of degrees at every impact. Gating the correction to samples with ``|acc| ≈ 1 g`` does not
help either: running passes through 1 g twice per step, mid-swing, where the direction is still far from
gravity.

What is true during running is that the *mean* specific force over whole strides is gravity: the vertical
and forward velocities are periodic (constant speed), so the body's own acceleration averages out. That
holds in the *world* frame, not in the sensor frame: the pelvis tilts in step with the vertical force, so
the sensor-frame mean of ``acc`` is biased by the correlation of tilt and force (≈ 1–2° for a 6° tilt ROM
at 2.5 g peaks). Hence:

1. Integrate the gyroscope (minus the estimated bias) into a quaternion, exactly (per-sample rotation
   increments composed as quaternions, no small-angle Euler shortcut).
2. Rotate each acceleration sample into the world frame with that quaternion, and average it over a
   trailing boxcar of ``average_s`` (several strides; a stride-rate ripple is attenuated by
   ``≤ 1 / (π f average_s)``).
3. Once per hop (``hop_s``), compare the averaged direction with world up; the rotation vector ``e`` between
   them is the attitude error. Correct it with a proportional-integral loop: the attitude is turned by
   ``kp · e · Δt`` about a horizontal world axis, and the gyroscope bias estimate moves by
   ``-ki · e · Δt`` (in sensor axes). The integral term removes a constant gyroscope bias, so the levelling
   does not lag behind a bias (a pure proportional loop would leave ``bias / kp`` of error).
4. The correction is skipped for a hop while the averaged acceleration's magnitude departs from 1 g by
   more than ``gate_g`` (speeding up, a jump, too little data): that average is not gravity then.
5. At rest (standing before the run: every sample of the hop within ``rest_g`` of 1 g and the gyroscope's
   standard deviation below ``rest_dps``) each sample *is* gravity and the gyroscope reads its bias, so the
   hop's own mean acceleration levels the attitude and its mean rate becomes the bias, both with the short
   time constant ``rest_tau_s``. A run recorded from a standing start is level and bias-free from its first
   stride; one that starts mid-run settles with the loop's time constants (about a minute).

Impacts therefore enter only through a many-stride world-frame average in which they are balanced by the
flight phases; within a stride the attitude is the gyroscope's alone, so its shape (the range of motion)
is not touched by the accelerometer at all.

Heading (rotation about world up) has no gravity reference: it is the gyroscope's integral and drifts
with the unobservable vertical-axis bias; consumers detrend it per stride.

Streaming
=========
Hops are fixed runs of ``round(hop_s · rate_hz)`` samples starting at absolute indices that are multiples
of the hop length. A hop is processed when it is complete (so the look-ahead is one hop), with a fixed
evaluation order inside it (a Hillis–Steele prefix product of the increments), and only the state at hop
ends is carried: results are bit-identical for any chunking of the input. A time step longer than
:data:`imu.constants.GAP_FACTOR` nominal periods is a gap: no rotation is integrated across it (the
attitude is held and the levelling loop recovers after it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from imu.constants import GAP_FACTOR, STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.samples import FloatArray

UP = np.array([0.0, 1.0, 0.0])
"""World up; the world frame has the body frame's axis order (ap-like, v, ml-like)."""


@dataclass(frozen=True)
class AttitudeSettings:
    """Loop and averaging constants (seconds, 1/s and g; see the module docstring)."""

    hop_s: float = 0.25
    average_s: float = 4.0
    kp_per_s: float = 0.1
    ki_per_s2: float = 0.004
    gate_g: float = 0.1
    rest_g: float = 0.05
    rest_dps: float = 2.0
    rest_tau_s: float = 0.5


# ---------------------------------------------------------------------------------- quaternion helpers
def quat_multiply(p: FloatArray, q: FloatArray) -> FloatArray:
    """Hamilton product ``p ⊗ q`` of (..., 4) arrays ``(w, x, y, z)``, element by element."""
    pw, px, py, pz = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    qw, qx, qy, qz = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty(np.broadcast_shapes(p.shape, q.shape))
    out[..., 0] = pw * qw - px * qx - py * qy - pz * qz
    out[..., 1] = pw * qx + px * qw + py * qz - pz * qy
    out[..., 2] = pw * qy - px * qz + py * qw + pz * qx
    out[..., 3] = pw * qz + px * qy - py * qx + pz * qw
    return out


def quat_rotate(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vectors (..., 3) by unit quaternions (..., 4): ``q ⊗ v ⊗ q*``, element by element."""
    w = q[..., 0:1]
    u = q[..., 1:4]
    t = 2.0 * _cross(u, v)
    out: FloatArray = v + w * t + _cross(u, t)
    return out


def quat_to_matrix(q: FloatArray) -> FloatArray:
    """(..., 3, 3) rotation matrices of unit quaternions (..., 4)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        (
            np.stack((1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)), -1),
            np.stack((2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)), -1),
            np.stack((2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)), -1),
        ),
        -2,
    )


def rotation_quat(rotvec: FloatArray) -> FloatArray:
    """Unit quaternions (..., 4) of rotation vectors (..., 3) in rad.

    Even Taylor series of ``cos(a/2)`` and ``sin(a/2)/a`` in ``a²`` (only + and ×, so the result is the same
    whatever the array length; exact to < 1e-8 for angles below 0.7 rad, i.e. 2000 deg/s at 50 Hz), then
    normalised.
    """
    s = 0.25 * np.sum(rotvec * rotvec, axis=-1, keepdims=True)  # (a/2)²
    cos_half = 1.0 - s / 2.0 + s * s / 24.0 - s * s * s / 720.0 + s * s * s * s / 40320.0
    sinc_half = 0.5 * (1.0 - s / 6.0 + s * s / 120.0 - s * s * s / 5040.0 + s * s * s * s / 362880.0)
    q = np.concatenate((cos_half, sinc_half * rotvec), axis=-1)
    out: FloatArray = q / np.sqrt(np.sum(q * q, axis=-1, keepdims=True))
    return out


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.stack(
        (
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ),
        axis=-1,
    )


def prefix_products(q: FloatArray) -> FloatArray:
    """``out[i] = q[0] ⊗ … ⊗ q[i]`` by a Hillis–Steele scan: the grouping depends only on ``i``."""
    out = q.copy()
    d = 1
    while d < out.shape[0]:
        out[d:] = quat_multiply(out[:-d], out[d:])
        d *= 2
    return out


def level_quat(acc: FloatArray) -> FloatArray:
    """The quaternion turning the direction of ``acc`` (3,) onto world up (shortest arc)."""
    a = acc / np.linalg.norm(acc)
    axis = np.cross(a, UP)
    sin_angle = float(np.linalg.norm(axis))
    angle = float(np.arctan2(sin_angle, float(a @ UP)))
    if sin_angle < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0]) if angle < 1.0 else np.array([0.0, 1.0, 0.0, 0.0])
    return rotation_quat(axis / sin_angle * angle)


# ---------------------------------------------------------------------------------- the filter
class AttitudeFilter:
    """Sensor-to-world quaternions per sample from acc (m/s²) and gyr (deg/s) in one fixed sensor frame.

    ``update(t_s, acc, gyr, start_index)`` returns ``(start, quats)``: the quaternions ``(w, x, y, z)`` of the
    samples whose hop completed, starting at absolute index ``start``. ``flush()`` processes the last,
    incomplete hop. ``bias_dps_`` is the current gyroscope bias estimate (sensor axes); ``levelled_index_``
    where a rest first levelled the attitude.
    """

    def __init__(self, rate_hz: float, settings: AttitudeSettings | None = None) -> None:
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise InputError("the sampling rate must be positive", expected="rate_hz > 0", found=str(rate_hz))
        self.settings = s = settings or AttitudeSettings()
        self.rate_hz = float(rate_hz)
        self.hop_n = max(1, round(s.hop_s * rate_hz))
        self._gap_s = GAP_FACTOR / rate_hz
        self._sums: deque[FloatArray] = deque(maxlen=max(1, round(s.average_s / s.hop_s)))
        self._counts: deque[int] = deque(maxlen=self._sums.maxlen)
        self._q: FloatArray | None = None
        self.bias_dps_ = np.zeros(3)
        self.levelled_index_: int | None = None
        """Absolute index one past the first rest hop (the attitude is level from there on), else None."""
        self._t_prev: float | None = None
        self._next = 0  # absolute index of the first unprocessed sample
        self._t = np.empty(0)
        self._acc = np.empty((0, 3))
        self._gyr = np.empty((0, 3))

    @property
    def look_ahead_s(self) -> float:
        return self.hop_n / self.rate_hz

    def update(
        self, t_s: FloatArray, acc: FloatArray, gyr: FloatArray, start_index: int
    ) -> tuple[int, FloatArray]:
        first = self._next
        if t_s.shape[0]:
            if self._t_prev is None and self._t.shape[0] == 0:
                first = self._next = start_index
            elif start_index != self._next + self._t.shape[0]:
                raise InputError(
                    "blocks must be contiguous",
                    expected=f"start_index {self._next + self._t.shape[0]}",
                    found=f"start_index {start_index}",
                )
            self._t = np.concatenate([self._t, t_s])
            self._acc = np.concatenate([self._acc, acc])
            self._gyr = np.concatenate([self._gyr, gyr])
        out = []
        while self._t.shape[0]:
            n = self.hop_n - self._next % self.hop_n
            if self._t.shape[0] < n:
                break
            out.append(self._hop(n))
        return first, np.concatenate(out) if out else np.empty((0, 4))

    def flush(self) -> tuple[int, FloatArray]:
        first = self._next
        if self._t.shape[0] == 0:
            return first, np.empty((0, 4))
        return first, self._hop(self._t.shape[0])

    def _hop(self, n: int) -> FloatArray:
        """Integrate the next ``n`` samples (one hop), then run the levelling loop once."""
        s = self.settings
        t, acc, gyr = self._t[:n], self._acc[:n], self._gyr[:n]
        self._t, self._acc, self._gyr = self._t[n:], self._acc[n:], self._gyr[n:]
        self._next += n
        if self._q is None:
            self._q = level_quat(acc.mean(axis=0))
        previous = np.concatenate([[t[0] if self._t_prev is None else self._t_prev], t[:-1]])
        dt = t - previous
        dt = np.where(dt > self._gap_s, 0.0, dt)
        self._t_prev = float(t[-1])
        rate = np.deg2rad(gyr - self.bias_dps_)
        steps = rotation_quat(rate * dt[:, None])
        quats = quat_multiply(self._q, prefix_products(steps))
        quats = quats / np.sqrt(np.sum(quats * quats, axis=1, keepdims=True))

        world = quat_rotate(quats, acc)
        self._sums.append(world.sum(axis=0))
        self._counts.append(n)
        hop_dt = float(dt.sum())
        magnitude_g = np.sqrt(np.sum(acc * acc, axis=1)) / STANDARD_GRAVITY_MS2
        at_rest = (
            n > 1 and np.all(np.abs(magnitude_g - 1.0) <= s.rest_g) and gyr.std(axis=0).max() < s.rest_dps
        )
        if at_rest:
            gain = min(1.0, hop_dt / s.rest_tau_s)
            self.bias_dps_ = self.bias_dps_ + gain * (gyr.mean(axis=0) - self.bias_dps_)
            self._q = self._level(quats[-1], world.mean(axis=0), gain, 0.0)
            if self.levelled_index_ is None:
                self.levelled_index_ = self._next
        else:
            mean = np.sum(self._sums, axis=0) / sum(self._counts)
            if abs(float(np.linalg.norm(mean)) / STANDARD_GRAVITY_MS2 - 1.0) <= s.gate_g:
                self._q = self._level(quats[-1], mean, s.kp_per_s * hop_dt, s.ki_per_s2 * hop_dt)
            else:
                self._q = quats[-1]
        return quats

    def _level(self, q: FloatArray, mean_world: FloatArray, kp: float, ki: float) -> FloatArray:
        """Turn ``q`` by ``kp`` × the error between ``mean_world`` and up; move the bias by ``ki`` × it."""
        error = np.cross(mean_world / np.linalg.norm(mean_world), UP)  # rotation vector (rad) onto up
        q = quat_multiply(rotation_quat(kp * error), q)
        q = q / np.linalg.norm(q)
        error_sensor = quat_rotate(q * np.array([1.0, -1.0, -1.0, -1.0]), error)
        self.bias_dps_ = self.bias_dps_ - np.rad2deg(ki * error_sensor)
        return q
