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

How it is computed (vectorised over hops)
=========================================
The loop above is sequential from hop to hop, but everything per *sample* is not, once the quaternion of
sample ``i`` of a hop is split as ``q_i = C ⊗ E_i ⊗ P_i``:

- ``P_i``: the product of the gyroscope increments from the hop's start to sample ``i``, with a bias
  *reference* ``b₀`` in place of the bias estimate ``b``. It depends on the samples only, so the increments
  (exact even Taylor series of the half angle) and their within-hop prefix products (a Hillis–Steele scan
  along the hop) are computed for up to :data:`BATCH_HOPS` hops at once.
- ``E_i = (1, -m_i / 2)`` with ``m_i = τ_i · (b - b₀)`` (``τ_i``: time since the hop's start): the part of
  the bias the loop changed since ``b₀`` was set, to first order, its rotation by the hop's own motion
  neglected. ``b₀`` is re-set to ``b`` before any hop for which they are more than
  :data:`BIAS_REFERENCE_DPS` apart, so ``|m_i| ≲ 1.6e-5 rad`` (1e-3°) and its neglected turn by a hop's
  motion (≲ 0.2 rad) is ≲ 2e-4°; before a hop that hardly turns (largest angle of ``P_i`` below
  :data:`STILL_TURN_RAD`), where there is next to nothing to neglect, only beyond
  :data:`BIAS_REFERENCE_MAX_DPS`.
  Against the same algorithm integrated step by step (every increment with the bias of the moment), world
  up in sensor axes differs by ≤ 1.9e-4° and the difference changes by ≤ 8e-5° within a stride
  (tests/gait/test_pelvis.py).
- ``C``: the attitude at the hop's start, the only state the loop carries.

Per hop the loop needs only ``P`` at the hop's end and the hop's world-frame acceleration sum
``R(C) (A + T × (b - b₀))`` with ``A = Σ R(P_i) acc_i`` and ``T = Σ τ_i R(P_i) acc_i``, computed
beforehand; it runs in plain Python floats (about 5 µs per hop). The samples' quaternions then follow in
one vectorised pass as ``(C + τ_i D) ⊗ P_i`` with ``D = C ⊗ (0, -(b - b₀) / 2)``.

Streaming
=========
Hops are fixed runs of ``round(hop_s · rate_hz)`` samples starting at absolute indices that are multiples
of the hop length. A hop is processed when it is complete (so the look-ahead is one hop). Every per-sample
operation is element-wise, or an accumulation along one hop in a fixed order; ``b₀`` changes only at
hops decided by the loop's own state, and the loop runs hop by hop: results are bit-identical for any
chunking of the input.

Gaps (lost packets)
===================
A time step longer than :data:`imu.constants.GAP_FACTOR` nominal periods is a gap: no rotation is integrated
across it, so the attitude after it is off by the pelvis's unseen turn (up to its range of motion, several
degrees for a 0.1–0.5 s gap during running). Left to the slow loop, that error took tens of seconds to fade
and, through the integral term, also disturbed the bias estimate: with 1 % packet loss in bursts (a gap every
~13 s) the per-stride tilt mean wandered by 2° RMS. Instead, at a step longer than ``anchor_gap_s`` (any lost
packet; 20 ms is about 1° at the pelvis's typical 50 deg/s), the error is a fixed rotation of the world
frame for every sample after the gap, so it is measured directly:

- the trailing average restarts after the gap (samples before it were rotated with the right attitude,
  samples after it with the wrong one), and the loop makes no correction while it fills;
- once it holds ``anchor_s`` of post-gap data (the same few strides as the normal average), the attitude is
  turned by the *whole* error at once (shortest arc from the direction of the average, weighted by a
  triangle over the window to cut the stride-rate ripple, to up, about a horizontal axis), the window's
  sums turned with it, and the loop resumes. The integral (bias) term never sees the gap's error.

Because the loop makes no correction meanwhile, the same turn ``c`` is the error of *every* sample since the
gap: ``c ⊗ q`` is their attitude measured against gravity (up to heading, which the gap leaves unknown and
consumers detrend). ``gap_spans_`` lists :class:`GapSpan` s in order, from the first sample after a gap to
one past the re-anchoring hop, with that correction; ``open_gap_`` is the first sample of the span still
pending. A span gets no correction (None) where the error was not measured: another gap before the window
filled (the samples up to it carry an error the post-gap average does not see), a rest hop levelling the
attitude by itself, or a full window whose average is not gravity (the wait goes on from there). Consumers
hold back results touching the pending span, correct them, and mark those touching an uncorrected span, or
a gap itself, as not settled. ``anchor_s`` is the normal average's 4 s; with the plain average (before the
triangle), 1.5–3 s anchors left 2.5–4 times the per-stride tilt error (simulated runner, seed 2024). On the
tuning seeds (7, 8; 1 % and 3 % loss), the triangle cut the per-stride tilt mean error after a gap by
2–2.5 times (MAE 0.076° → 0.036°, 0.124° → 0.053°).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from imu.constants import GAP_FACTOR, STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.samples import FloatArray

BIAS_REFERENCE_DPS = 0.002
"""The bias reference ``b₀`` in the gyroscope increments is re-set to the bias estimate before a hop for
which they are further apart than this on some axis (deg/s; see the module docstring). During running that
is about once a minute (simulated runner). Each re-set recomputes the rest of its batch of hops: half of
this (the old 0.001 deg/s) cost 1.4 times the attitude's time for 1.6 times less of the error it bounds
(≤ 1.9e-4° against the step-by-step algorithm, tests/gait/test_pelvis.py), about 1 % of the per-stride
tilt error on the simulated runner. Applied to still hops too, it re-set ``b₀`` at every hop at rest, where
the bias estimate follows each hop's mean rate: standing cost about 15 s per hour, a hundred times running
(now 0.14 s)."""

STILL_TURN_RAD = 0.005
"""A hop whose largest angle from its start stays below this (rad; 1.1 deg/s over a hop) hardly turns: the
neglected turn of ``m_i`` is then below 1.1e-6 rad (6e-5°) up to :data:`BIAS_REFERENCE_MAX_DPS`."""

BIAS_REFERENCE_MAX_DPS = 0.05
"""``b₀`` is re-set whenever it is this far from the bias estimate, however still the sensor: keeps
``|m_i|`` below 2.2e-4 rad, where the first-order ``E_i`` is exact to 5e-8 rad."""

BATCH_HOPS = 128
"""At most this many hops are computed together (32 s at the default hop: the arrays stay in cache)."""

Quat = tuple[FloatArray, FloatArray, FloatArray, FloatArray]
"""A quaternion as columns ``(w, x, y, z)`` of arrays that broadcast against each other."""
Vec = tuple[FloatArray, FloatArray, FloatArray]

QuatTuple = tuple[float, float, float, float]
_DEG = math.pi / 180.0


class GapSpan(NamedTuple):
    """Samples ``[first, stop)`` (absolute indices) after a gap whose attitude was off by the gap's unseen
    turn; ``c ⊗ q`` with ``correction`` ``c`` is their attitude measured against gravity (see the module
    docstring), or None when it could not be measured."""

    first: int
    stop: int
    correction: QuatTuple | None


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
    anchor_gap_s: float = 0.02
    """A time step longer than this (and than a gap) re-anchors the attitude (see the module docstring)."""
    anchor_s: float = 4.0
    """Post-gap data averaged before re-anchoring (at most ``average_s``)."""


# ---------------------------------------------------------------------------------- quaternion columns
def quat_product(p: Quat, q: Quat) -> Quat:
    """Hamilton product ``p ⊗ q``, element by element."""
    pw, px, py, pz = p
    qw, qx, qy, qz = q
    return (
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    )


def rotate(q: Quat, v: Vec) -> Vec:
    """``q ⊗ v ⊗ q*`` for unit ``q``, element by element (``v + w t + u × t`` with ``t = 2 u × v``)."""
    w, x, y, z = q
    vx, vy, vz = v
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


def increments(rx: FloatArray, ry: FloatArray, rz: FloatArray) -> Quat:
    """Unit quaternions of rotation vectors (rad), element by element.

    Even Taylor series of ``cos(a/2)`` and ``sin(a/2)/a`` in ``s = (a/2)²`` to ``s⁴`` (Horner form; only + and
    ×, so the result does not depend on the array length): the truncation is below 1e-16 for the
    0.17 rad a 2000 deg/s gyroscope turns in one 208 Hz sample, and below 1e-12 up to 0.7 rad.
    """
    s = 0.25 * (rx * rx + ry * ry + rz * rz)
    cos_half = 1.0 + s * (-1.0 / 2.0 + s * (1.0 / 24.0 + s * (-1.0 / 720.0 + s * (1.0 / 40320.0))))
    sinc_half = 0.5 + s * (-1.0 / 12.0 + s * (1.0 / 240.0 + s * (-1.0 / 10080.0 + s * (1.0 / 725760.0))))
    return cos_half, sinc_half * rx, sinc_half * ry, sinc_half * rz


def prefix_products(q: Quat) -> Quat:
    """``out[i] = q[0] ⊗ … ⊗ q[i]`` along the first axis by a Hillis–Steele scan.

    The grouping of the product for position ``i`` depends only on ``i``, never on the array's length. Each
    level writes its products straight into the other of two buffers (no temporaries, no copy-back).
    """
    current = np.array(q)
    other = np.empty_like(current)
    scratch = np.empty_like(current[0])
    n = current.shape[1]
    d = 1
    while d < n:
        other[:, :d] = current[:, :d]
        _product_into(current[:, :-d], current[:, d:], other[:, d:], scratch[d:])
        current, other = other, current
        d *= 2
    return current[0], current[1], current[2], current[3]


def _product_into(p: FloatArray, q: FloatArray, out: FloatArray, scratch: FloatArray) -> None:
    """``out = p ⊗ q`` for stacked columns ``(w, x, y, z)``, with the same operations in the same order as
    :func:`quat_product` (bit-identical), into ``out`` (not overlapping ``p`` or ``q``)."""
    pw, px, py, pz = p
    qw, qx, qy, qz = q
    ow, ox, oy, oz = out
    for target, first, terms in (
        (ow, (pw, qw), ((-1, px, qx), (-1, py, qy), (-1, pz, qz))),
        (ox, (pw, qx), ((1, px, qw), (1, py, qz), (-1, pz, qy))),
        (oy, (pw, qy), ((-1, px, qz), (1, py, qw), (1, pz, qx))),
        (oz, (pw, qz), ((1, px, qy), (-1, py, qx), (1, pz, qw))),
    ):
        np.multiply(*first, out=target)
        for sign, a, b in terms:
            np.multiply(a, b, out=scratch)
            if sign > 0:
                target += scratch
            else:
                target -= scratch


def level_quat(acc: FloatArray) -> tuple[float, float, float, float]:
    """The quaternion turning the direction of ``acc`` (3,) onto world up (shortest arc)."""
    ax, ay, az = (float(v) for v in acc / np.linalg.norm(acc))
    # axis = a × up = (-az, 0, ax); |axis| = sin(angle), a · up = cos(angle)
    sin_angle = math.hypot(az, ax)
    angle = math.atan2(sin_angle, ay)
    if sin_angle < 1e-12:
        return (1.0, 0.0, 0.0, 0.0) if angle < 1.0 else (0.0, 1.0, 0.0, 0.0)
    k = math.sin(0.5 * angle) / sin_angle
    return (math.cos(0.5 * angle), -az * k, 0.0, ax * k)


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
        self._window: deque[tuple[float, float, float, int]] = deque()
        self._window_hops = max(1, round(s.average_s / s.hop_s))
        self._anchor_hops = min(self._window_hops, max(1, round(s.anchor_s / s.hop_s)))
        self._window_sum = (0.0, 0.0, 0.0, 0)
        self._anchor_gap_s = max(s.anchor_gap_s, self._gap_s)
        self.gap_spans_: list[GapSpan] = []
        """Samples after gaps, in order, with the correction their attitude needs (module docstring)."""
        self.gaps_: list[int] = []
        """Absolute index of the first sample after each gap."""
        self.open_gap_: int | None = None
        """The first sample of a span after a gap whose correction is still pending, else None."""
        self._q: tuple[float, float, float, float] | None = None
        self._bias = (0.0, 0.0, 0.0)  # deg/s, sensor axes
        self._bias_ref = (0.0, 0.0, 0.0)  # deg/s, the b₀ in the increments
        self.levelled_index_: int | None = None
        """Absolute index one past the first rest hop (the attitude is level from there on), else None."""
        self._t_prev: float | None = None
        self._next = 0  # absolute index of the first unprocessed sample
        self._t = np.empty(0)  # samples received, not yet processed
        self._acc = np.empty((0, 3))
        self._gyr = np.empty((0, 3))

    @property
    def look_ahead_s(self) -> float:
        return self.hop_n / self.rate_hz

    @property
    def bias_dps_(self) -> FloatArray:
        return np.array(self._bias)

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
            if self._t.shape[0]:
                t_s, acc, gyr = (
                    np.concatenate(pair) for pair in ((self._t, t_s), (self._acc, acc), (self._gyr, gyr))
                )
            self._t, self._acc, self._gyr = t_s, acc, gyr
        available = self._t.shape[0]
        partial = (self.hop_n - self._next % self.hop_n) % self.hop_n  # the stream began inside a hop
        ready = partial if available >= partial else 0
        ready += (available - ready) // self.hop_n * self.hop_n
        quats = np.empty((ready, 4))
        done = 0
        while done < ready:
            partial = (self.hop_n - self._next % self.hop_n) % self.hop_n
            if partial:
                done += self._hops(1, partial, quats[done:])
            else:
                count = min((ready - done) // self.hop_n, BATCH_HOPS)
                done += self._hops(count, self.hop_n, quats[done:])
        return first, quats

    def flush(self) -> tuple[int, FloatArray]:
        first = self._next
        n = self._t.shape[0]
        quats = np.empty((n, 4))
        if n and not self._hops(1, n, quats):
            self._hops(1, n, quats)  # the first call only re-set the bias reference
        return first, quats

    # ------------------------------------------------------------------ one batch of hops
    def _hops(self, count: int, n: int, out: FloatArray) -> int:
        """Process up to ``count`` hops of ``n`` samples into ``out``; the number of samples processed.

        The arrays are laid out ``(n, count)`` (position in the hop, hop) so that the scan along the hop works
        on contiguous rows. The loop stops early before a hop for which the bias is too far from ``b₀`` (see
        :data:`BIAS_REFERENCE_DPS`); the rest is computed again with the new ``b₀``.
        """
        size = count * n
        columns = np.empty((7, n, count))
        columns[0] = self._t[:size].reshape(count, n).T
        columns[1:4] = self._acc[:size].reshape(count, n, 3).transpose(2, 1, 0)
        columns[4:7] = self._gyr[:size].reshape(count, n, 3).transpose(2, 1, 0)
        t, ax, ay, az, gx, gy, gz = columns
        if self._q is None:
            self._q = level_quat(np.array([ax[:, 0].mean(), ay[:, 0].mean(), az[:, 0].mean()]))
        dt = np.empty((n, count))
        dt[1:] = t[1:] - t[:-1]
        dt[0, 1:] = t[0, 1:] - t[-1, :-1]
        dt[0, 0] = t[0, 0] - (t[0, 0] if self._t_prev is None else self._t_prev)
        anchor = dt > self._anchor_gap_s
        gaps: dict[int, list[int]] = {}
        for h, i in zip(*np.nonzero(anchor.T), strict=True):
            gaps.setdefault(int(h), []).append(self._next + int(h) * n + int(i))
        dt[dt > self._gap_s] = 0.0
        dt_rad = dt * _DEG  # deg/s · this = rad
        bx, by, bz = self._bias_ref
        p = prefix_products(increments((gx - bx) * dt_rad, (gy - by) * dt_rad, (gz - bz) * dt_rad))
        hop_frame = rotate(p, (ax, ay, az))
        tau = np.cumsum(dt, axis=0)
        sums = _hop_sums((*hop_frame, *(tau * c for c in hop_frame)))
        ends = np.stack([c[-1] for c in p], axis=1)
        turn = 2.0 * np.sqrt((p[1] * p[1] + p[2] * p[2] + p[3] * p[3]).max(axis=0))  # rad, ≈ largest angle
        rest = self._rest_rates((ax, ay, az), (gx, gy, gz))
        starts = self._loop(ends, sums, tau[-1], turn, rest, gaps, n)

        done = starts.shape[0]
        if done == 0:
            return 0
        size = done * n
        self._t, self._acc, self._gyr = self._t[size:], self._acc[size:], self._gyr[size:]
        self._t_prev = float(t[-1, done - 1])
        # q_i = C ⊗ E_i ⊗ P_i = (C + τ_i D) ⊗ P_i with D = C ⊗ (0, -(b - b₀) / 2); D ⊥ C, so the norm of
        # C + τ_i D is √(1 + τ_i² |b - b₀|² / 4): 1 to 2e-11 while running, 6e-9 at most (still hops, see
        # BIAS_REFERENCE_MAX_DPS), which moves the angles by < 1e-6°: not worth a normalisation
        tau = tau[:, :done]
        f = tuple(starts[:, k] + tau * starts[:, 4 + k] for k in range(4))
        q = quat_product(
            (f[0], f[1], f[2], f[3]), (p[0][:, :done], p[1][:, :done], p[2][:, :done], p[3][:, :done])
        )
        target = out[:size].reshape(done, n, 4)
        for k, column in enumerate(q):
            target[:, :, k] = column.T
        return size

    def _rest_rates(self, acc: Vec, gyr: Vec) -> dict[int, tuple[float, float, float]]:
        """Hops at rest (see the module docstring) → their mean angular rate (deg/s). Columns are (n, H)."""
        s = self.settings
        ax, ay, az = acc
        if ax.shape[0] < 2:
            return {}
        g2 = STANDARD_GRAVITY_MS2 * STANDARD_GRAVITY_MS2
        m2 = ax * ax + ay * ay + az * az
        steady = ((m2 >= (1.0 - s.rest_g) ** 2 * g2) & (m2 <= (1.0 + s.rest_g) ** 2 * g2)).all(axis=0)
        hops = np.flatnonzero(steady)
        if hops.shape[0] == 0:
            return {}
        # (n, 3, k) with k ≥ 2: the reductions along the hop then always run row by row (see _hop_sums)
        rates = np.zeros((ax.shape[0], 3, max(hops.shape[0], 2)))
        for k, column in enumerate(gyr):
            rates[:, k, : hops.shape[0]] = column[:, hops]
        count = hops.shape[0]
        mean = rates.mean(axis=0)
        still = np.sqrt(np.square(rates - mean).mean(axis=0)).max(axis=0)[:count] < s.rest_dps
        return {
            h: (mx, my, mz)
            for h, ok, mx, my, mz in zip(
                hops.tolist(), still.tolist(), *mean[:, :count].tolist(), strict=True
            )
            if ok
        }

    def _loop(
        self,
        ends: FloatArray,
        sums: FloatArray,
        hop_dt: FloatArray,
        turn: FloatArray,
        rest: dict[int, tuple[float, float, float]],
        gaps: dict[int, list[int]],
        n: int,
    ) -> FloatArray:
        """The levelling loop, hop by hop in Python floats (see the module docstring).

        ``ends``: (H, 4) ``P`` at each hop's end; ``sums``: (H, 6) ``A`` and ``T``; ``hop_dt`` (H,) the hops'
        durations (s); ``turn`` (H,) their largest angles (rad); ``gaps``: hop → absolute indices of the
        first samples after its re-anchoring gaps. Returns (h, 8): each processed hop's start attitude ``C``
        and ``D = C ⊗ (0, -δb / 2)`` with ``δb = b - b₀`` (rad/s); stops (re-setting ``b₀``) before a hop
        for which ``b`` is too far from ``b₀``.
        """
        s = self.settings
        assert self._q is not None
        qw, qx, qy, qz = self._q
        bx, by, bz = self._bias
        rx, ry, rz = self._bias_ref
        sx, sy, sz, count = self._window_sum
        window, full, gravity = self._window, self._window_hops, STANDARD_GRAVITY_MS2
        kp, ki, gate, to_dps = s.kp_per_s, s.ki_per_s2, s.gate_g, 1.0 / _DEG
        limits = np.where(turn >= STILL_TURN_RAD, BIAS_REFERENCE_DPS, BIAS_REFERENCE_MAX_DPS).tolist()
        special = gaps.keys() | rest.keys()
        starts = []
        for h, (pw, px, py, pz, ax, ay, az, tx, ty, tz, dt, limit) in enumerate(
            zip(*ends.T.tolist(), *sums.T.tolist(), hop_dt.tolist(), limits, strict=True)
        ):
            if not (-limit <= bx - rx <= limit and -limit <= by - ry <= limit and -limit <= bz - rz <= limit):
                self._bias_ref = (bx, by, bz)
                break
            dx, dy, dz = (bx - rx) * _DEG, (by - ry) * _DEG, (bz - rz) * _DEG  # δb, rad/s
            ux, uy, uz = -0.5 * dx, -0.5 * dy, -0.5 * dz
            dw = -(qx * ux + qy * uy + qz * uz)
            dxq, dyq, dzq = (
                qw * ux + (qy * uz - qz * uy),
                qw * uy + (qz * ux - qx * uz),
                qw * uz + (qx * uy - qy * ux),
            )
            starts.append((qw, qx, qy, qz, dw, dxq, dyq, dzq))
            # the hop's world-frame acceleration sum, R(C) (A + T × δb)
            ax, ay, az = ax + (ty * dz - tz * dy), ay + (tz * dx - tx * dz), az + (tx * dy - ty * dx)
            ux, uy, uz = 2.0 * (qy * az - qz * ay), 2.0 * (qz * ax - qx * az), 2.0 * (qx * ay - qy * ax)
            wx = ax + qw * ux + (qy * uz - qz * uy)
            wy = ay + qw * uy + (qz * ux - qx * uz)
            wz = az + qw * uz + (qx * uy - qy * ux)
            # the hop's end, (C + dt D) ⊗ P
            fw, fx, fy, fz = qw + dt * dw, qx + dt * dxq, qy + dt * dyq, qz + dt * dzq
            qw, qx, qy, qz = (
                fw * pw - fx * px - fy * py - fz * pz,
                fw * px + fx * pw + fy * pz - fz * py,
                fw * py - fx * pz + fy * pw + fz * px,
                fw * pz + fx * py - fy * px + fz * pw,
            )
            if h not in special and self.open_gap_ is None:  # the usual hop: average, gate, correct
                window.append((wx, wy, wz, n))
                sx, sy, sz, count = sx + wx, sy + wy, sz + wz, count + n
                if len(window) > full:
                    ox, oy, oz, on = window.popleft()
                    sx, sy, sz, count = sx - ox, sy - oy, sz - oz, count - on
                mx, mz = sx, sz
                magnitude = math.sqrt(sx * sx + sy * sy + sz * sz)
                gated = count == 0 or abs(magnitude / count / gravity - 1.0) > gate
                kp_h, ki_h = (0.0, 0.0) if gated else (kp * dt, ki * dt)
            else:
                kp_h, ki_h, mx, mz, magnitude, sx, sy, sz, count, qw, qx, qy, qz = self._special_hop(
                    h, n, dt, gaps, rest, (wx, wy, wz), (sx, sy, sz, count), (qw, qx, qy, qz)
                )
                if h in rest:  # its mean rate is the bias, followed with the rest's gain
                    gx, gy, gz = rest[h]
                    bx, by, bz = bx + kp_h * (gx - bx), by + kp_h * (gy - by), bz + kp_h * (gz - bz)
            if kp_h:
                # turn by kp · e, e = mean/|mean| × up = (-mean_z, 0, mean_x) / |mean| (rad), about world axes
                ex, ez = -mz / magnitude, mx / magnitude
                angle = kp_h * math.sqrt(ex * ex + ez * ez)
                k = 0.5 * kp_h if angle == 0.0 else math.sin(0.5 * angle) * kp_h / angle
                cw, cx, cz = math.cos(0.5 * angle), k * ex, k * ez
                qw, qx, qy, qz = (
                    cw * qw - cx * qx - cz * qz,
                    cw * qx + cx * qw - cz * qy,
                    cw * qy - cx * qz + cz * qx,
                    cw * qz + cx * qy + cz * qw,
                )
                if ki_h:
                    # the bias moves by -ki · e in sensor axes: q* ⊗ e ⊗ q (|q| = 1 to ~1e-11 here)
                    ux, uy, uz = -2.0 * qy * ez, 2.0 * (qx * ez - qz * ex), 2.0 * qy * ex
                    step = ki_h * to_dps
                    bx -= step * (ex + qw * ux + (qz * uy - qy * uz))
                    by -= step * (qw * uy + (qx * uz - qz * ux))
                    bz -= step * (ez + qw * uz + (qy * ux - qx * uy))
            norm = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            qw, qx, qy, qz = qw / norm, qx / norm, qy / norm, qz / norm
        self._q, self._bias, self._window_sum = (qw, qx, qy, qz), (bx, by, bz), (sx, sy, sz, count)
        self._next += len(starts) * n
        return np.array(starts)

    def _special_hop(
        self,
        h: int,
        n: int,
        dt: float,
        gaps: dict[int, list[int]],
        rest: dict[int, tuple[float, float, float]],
        world: tuple[float, float, float],
        window_sum: tuple[float, float, float, int],
        q: QuatTuple,
    ) -> tuple[float, float, float, float, float, float, float, float, int, float, float, float, float]:
        """The loop's step for a hop after a gap, at rest, or while a gap's correction is pending.

        Returns the gains, the vector to level on (x, z) and its magnitude, the window's sum and the
        attitude (turned when the gap's error was measured now). A rest hop's bias step is the caller's.
        """
        s = self.settings
        window, wx, wy, wz = self._window, *world
        sx, sy, sz, count = window_sum
        qw, qx, qy, qz = q
        anchoring = False
        end = self._next + (h + 1) * n
        if h in gaps:  # the average restarts after the gap, the loop waits for it to fill
            window.clear()
            sx, sy, sz, count = 0.0, 0.0, 0.0, 0
            self.gaps_.extend(gaps[h])
            if self.open_gap_ is None:
                self.open_gap_ = gaps[h][0]
            self._give_up(gaps[h][-1])  # the error before the last gap is not the one measured after it
        else:
            window.append((wx, wy, wz, n))
            sx, sy, sz, count = sx + wx, sy + wy, sz + wz, count + n
            if len(window) > self._window_hops:
                ox, oy, oz, on = window.popleft()
                sx, sy, sz, count = sx - ox, sy - oy, sz - oz, count - on
            anchoring = self.open_gap_ is not None and len(window) >= self._anchor_hops
        if h in rest:  # level on the hop's own mean (its direction is that of the sum)
            if self.levelled_index_ is None:
                self.levelled_index_ = end
            self._give_up(end)  # levelled by the rest itself, not by a measured correction
            self.open_gap_ = None
            gain = min(1.0, dt / s.rest_tau_s)
            magnitude = math.sqrt(wx * wx + wy * wy + wz * wz)
            return gain, 0.0, wx, wz, magnitude, sx, sy, sz, count, qw, qx, qy, qz
        magnitude = math.sqrt(sx * sx + sy * sy + sz * sz)
        gated = count == 0 or abs(magnitude / count / STANDARD_GRAVITY_MS2 - 1.0) > s.gate_g
        if self.open_gap_ is not None:
            if anchoring and gated:  # not gravity now: keep waiting, without the samples so far
                self._give_up(end)
            elif anchoring:  # the whole error at once, the window turned with the attitude
                sx, sy, sz, qw, qx, qy, qz, c = _anchor(window, (sx, sy, sz), (qw, qx, qy, qz))
                self.gap_spans_.append(GapSpan(self.open_gap_, end, c))
                self.open_gap_ = None
            return 0.0, 0.0, sx, sz, magnitude, sx, sy, sz, count, qw, qx, qy, qz
        kp_h, ki_h = (0.0, 0.0) if gated else (s.kp_per_s * dt, s.ki_per_s2 * dt)
        return kp_h, ki_h, sx, sz, magnitude, sx, sy, sz, count, qw, qx, qy, qz

    def _give_up(self, stop: int) -> None:
        """The pending samples before ``stop`` get no correction (their span is closed uncorrected)."""
        if self.open_gap_ is not None and stop > self.open_gap_:
            self.gap_spans_.append(GapSpan(self.open_gap_, stop, None))
            self.open_gap_ = stop


def _anchor(
    window: deque[tuple[float, float, float, int]],
    total: tuple[float, float, float],
    q: tuple[float, float, float, float],
) -> tuple[float, float, float, float, float, float, float, QuatTuple]:
    """Turn the attitude ``q`` (and the window's world-frame sums with it) so that the window's acceleration
    points up: the shortest arc, about a horizontal world axis. Returns the new sum of the window, attitude
    and the turn.

    The hops' sums are weighted by a triangle (the window convolved with itself at half its length): a
    stride-rate swing of the acceleration that a plain average over a window of ``T`` leaves at up to
    ``1 / (π f T)`` of its amplitude falls to ``(2 / (π f T))²`` (0.5 % instead of 5 % at 1.4 Hz, 4 s)."""
    k = len(window)
    weighted = np.array([min(i + 1, k - i) * np.array(hop[:3]) for i, hop in enumerate(window)]).sum(axis=0)
    cw, cx, _, cz = level_quat(weighted)
    c: QuatTuple = (cw, cx, 0.0, cz)
    for i, (x, y, z, m) in enumerate(window):
        window[i] = (*_turn(c, (x, y, z)), m)
    sx, sy, sz = _turn(c, total)
    qw, qx, qy, qz = q
    qw, qx, qy, qz = (
        cw * qw - cx * qx - cz * qz,
        cw * qx + cx * qw - cz * qy,
        cw * qy - cx * qz + cz * qx,
        cw * qz + cx * qy + cz * qw,
    )
    norm = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
    return sx, sy, sz, qw / norm, qx / norm, qy / norm, qz / norm, c


def _turn(c: tuple[float, float, float, float], v: tuple[float, float, float]) -> tuple[float, float, float]:
    """``c ⊗ v ⊗ c*`` in floats (unit ``c``)."""
    w, x, y, z = c
    vx, vy, vz = v
    tx, ty, tz = 2.0 * (y * vz - z * vy), 2.0 * (z * vx - x * vz), 2.0 * (x * vy - y * vx)
    return vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx)


def _hop_sums(columns: tuple[FloatArray, ...]) -> FloatArray:
    """(H, k) sums over each hop of k (n, H) columns, always accumulated position by position.

    A reduction over the first axis of an (n, H) array runs row by row, except for a single hop, where numpy
    would sum the (then contiguous) column pairwise; a zero column keeps the order the same.
    """
    n, hops = columns[0].shape
    if hops >= 2:
        return np.stack([column.sum(axis=0) for column in columns], axis=1)
    stacked = np.zeros((len(columns), n, 2))
    for k, column in enumerate(columns):
        stacked[k, :, :1] = column
    out: FloatArray = stacked.sum(axis=1)[:, :1].T
    return out
