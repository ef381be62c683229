"""The body frame found from the data: up from gravity, forward (with its sign) from the gait itself.

Why these cues
==============
*Up* is the direction of the mean acceleration over a trailing window: over whole strides the body's own
acceleration averages out and gravity remains.

*Forward* is the horizontal direction whose acceleration correlates with the rate of change of the
vertical acceleration (the "vertical jerk"), ``c = Σ a_h · d(a_v)/dt`` over band-passed signals. Left and
right steps are mirror images mediolaterally, so the mediolateral part of ``c`` cancels and ``c`` lies
along the anteroposterior axis whatever the mounting (the principal horizontal axis, by contrast, is the
mediolateral one for some walkers: FINDINGS.md). Its *sign* comes from the mechanics of the gait mode:

- running (a flight phase exists): the foot lands ahead of the body and brakes it while the vertical
  force rises, so the forward acceleration is negative while ``a_v`` rises: ``forward = -c``;
- walking (double support): while the leading leg loads, the trailing leg pushes off, and the trunk
  accelerates forward as ``a_v`` rises (Zijlstra & Hof 2003, peak forward acceleration at heel strike):
  ``forward = +c``.

Checked on the shared recordings: voisard2023 walking, ``+c`` within 20° of the forward axis given by the
mounting in 52 of 52 trials; SisFall (one mounting for all trials of a subject) ``c`` points one way in all
walking and the other in all jogging trials of every subject. The gait mode of each hop is read from the
fraction of time the low-passed vertical acceleration is below ``flight_g`` (only in flight is the
trunk nearly weightless; walking never goes below ≈ 0.5 g); hops near the threshold weigh little, so
ambiguous gait lowers the confidence instead of flipping the sign.

Confidence (0–1)
================
``confidence = mode_certainty × min(1, r / full_correlation) × min(1, gait_s / full_gait_s)`` where ``r``
(0–1) is the normalised correlation behind ``c`` (Cauchy–Schwarz bounded), ``mode_certainty`` the
energy-weighted mean of ``|tanh((flight_fraction − running_flight_fraction) / mode_scale)|`` and
``gait_s`` the seconds in the window with gait-like motion. 0 means the forward axis is a placeholder
(no gait seen yet); a stated mounting has confidence 1.

Streaming (causal: no look-ahead)
=================================
Hops of ``hop_s`` start at absolute sample indices that are multiples of the hop length, so results do
not depend on how the stream is cut. Every sample is emitted in the ``update`` call that brings it,
rotated with the frame committed at the end of the last hop *before* its own: the stage adds no delay
(``look_ahead_s`` = 0), and the frame a sample gets is a function of the samples before its hop only.

The frame is a slowly varying rotation estimated from the trailing ``window_s`` of hop statistics:

- *up* follows the trailing mean acceleration (re-committed when it moved more than ``hysteresis_deg``)
  until ``up_fix_gait_s`` seconds of gait-like motion have been seen; from then on it is **fixed** (the
  mean over all hops so far) and only a slip re-estimates it. A slow change of the gravity direction in
  the sensor (trunk lean growing with fatigue) therefore stays in the body-frame output instead of being
  absorbed by re-commits.
- *forward* follows the heading: at the end of each hop it is re-estimated perpendicular to the current
  up and committed when the frame moved more than ``hysteresis_deg`` (no jitter), and only on enough
  evidence (``min_commit_confidence``, or at least the confidence of the frame in use).

What the first seconds get: the samples of the stream's first hop (at most ``hop_s``) are rotated with
*up* along the first sample's acceleration (the only estimate a causal stage has then; during a flight
phase it is meaningless) and a placeholder forward (the most horizontal sensor axis), confidence 0.
From the first hop's end on, up is the mean over the hops seen; forward and its sign come from the gait
seen so far, and the confidence says how far to trust them: 0 until gait has been seen, growing to its
full value over ``full_gait_s`` seconds of gait (see Confidence). Rows downstream carry that confidence.

Slips: when the gravity direction of the last ``slip_window_s`` differs from the committed up by more
than ``slip_angle_deg`` for ``slip_hold_s``, the sensor moved on the body: the statistics before the
change are dropped, the frame (up and forward) is re-estimated from the data after it, up is free again
until ``up_fix_gait_s`` of gait after the slip, and a :class:`FrameEvent` marks it. Samples emitted
between the slip's onset and its confirmation (``slip_hold_s`` plus up to ``slip_window_s``) keep the old
frame: nothing emitted is retracted. ``flush`` emits nothing (no sample is held) and brings the final
estimate (:attr:`BodyFrameStage.rotation_`, ``confidence_``) up to date with the last, partial hop.

Speed, and the same bits for any chunking
=========================================
Per sample, everything is one numpy pass per block: the filters (exact integer sums, see *Filters*), the jerk,
and the rotation (element by element, so the bits do not depend on the block length either). Each hop is
reduced to one row of additive sums; its 6×6 second moments of band-passed acceleration and jerk come from a
contiguous copy of exactly that hop's samples, so they do not depend on where blocks were cut. The trailing
window of hop rows is summed neither by re-adding ``window_s`` of hops every hop nor by a running
add-and-subtract (whose rounding would grow with the stream): hops fall into aligned groups of one window
each, and the window ending at position ``p`` of a group is (the previous group's suffix from ``p + 1``) +
(this group's prefix to ``p``), both accumulated in hop order. The estimates of all hops of a block are
vectorised; only the commit rules run per hop, in plain Python on floats, and the rest of a block's hops is
evaluated again only when the frame in use changed (a commit, up fixed, a slip).

Filters
=======
The band-pass and the flight low-pass are cascaded trailing boxcars, not Butterworth IIRs: ``band = short
− long``, ``low`` = short, all causal (ending at the newest sample). ``short`` is three boxcars of 11
samples at 208 Hz (response sinc³), −3 dB at ``band_hz[1]`` / ``flight_lowpass_hz`` (5 Hz) like the
2nd-order Butterworth it replaces (0.71 at 5 Hz, 0.22 vs 0.21 at 10 Hz, ≤ 0.015 above 15 Hz where the
Butterworth has 0.09–0.005); ``long`` is two boxcars of 238 samples: it takes out gravity and what is
slower than ``band_hz[0]``, but, being trailing, lets more of 0.1–0.5 Hz through (gain 0.65–1.3 where the
Butterworth has 0.03–0.7): the trunk's slow sway, whose acceleration is small next to the gait's.

Why: every statistic here is a zero-lag product of signals passed through the same filter, so it depends
on the filter's magnitude response only; and boxcars are exact in integer arithmetic. Inputs are rounded
to 2**-17 m/s² (clipped at ±2048 m/s²); a cascade's sum is a difference of the inputs summed as often
(int64; a wrap-around cancels), so any chunking gives the same bits, in a few passes per sample, and the
stage needs no scipy.signal (~0.6 s of every start-up). Checked against the Butterworth frame on
voisard2023 (subjects 1–5 and 6–9: walking IC F1 and side accuracy, live and smoothed, all equal or
higher) and on the 60-min simulated run (frames a median 0.01° apart). Tried and not taken: a linear-phase
version (short delayed to the long one's centre) delays every estimate by 1.1 s and did worse on voisard's
short trials; two boxcars for ``short`` (sinc², more leakage above 15 Hz) let doubled heel-strike
transients move the pelvis tilt ROM by 0.146° (tests/gait/test_pelvis.py allows 0.142°).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.gait.body_block import BodyBlock
from imu.samples import FloatArray, SampleBlock

_AXES: Final = {"x": 0, "y": 1, "z": 2}


# ---------------------------------------------------------------------------------------------- mounting
@dataclass(frozen=True, eq=False)
class Mounting:
    """A stated sensor-to-body rotation: ``rotation`` rows are the ap, v, ml axes in sensor coordinates.

    ``body = rotation @ sensor``. Build it from a matrix, or with :meth:`from_axes` / :meth:`parse` from the
    sensor axes that point up and forward, e.g. ``Mounting.parse("up=+x,forward=-z")``.
    """

    rotation: FloatArray

    def __post_init__(self) -> None:
        r = np.asarray(self.rotation, dtype=np.float64)
        if r.shape != (3, 3) or not np.all(np.isfinite(r)):
            raise InputError(
                "a mounting must be a finite 3×3 rotation", expected="shape (3, 3)", found=str(r.shape)
            )
        if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
            raise InputError(
                "a mounting must be a proper rotation",
                expected="orthonormal rows (ap, v, ml) with determinant +1",
                found=f"determinant {np.linalg.det(r):.3g}",
            )
        object.__setattr__(self, "rotation", r)

    @classmethod
    def from_axes(cls, up: str, forward: str) -> Mounting:
        """From signed sensor axis names such as ``"+x"`` (up) and ``"-z"`` (forward)."""
        u, f = _axis_vector(up), _axis_vector(forward)
        if abs(float(u @ f)) > 0.5:
            raise InputError(
                "up and forward must be different sensor axes",
                expected="e.g. up=+x,forward=-z",
                found=f"up={up},forward={forward}",
            )
        return cls(_rotation_from(f, u))

    @classmethod
    def parse(cls, text: str) -> Mounting:
        """From ``"up=<axis>,forward=<axis>"`` with axes ``±x``, ``±y``, ``±z``."""
        parts = dict(p.split("=", 1) for p in text.replace(" ", "").split(",") if "=" in p)
        if set(parts) != {"up", "forward"}:
            raise InputError(
                "cannot read the mounting", expected="up=<±x|±y|±z>,forward=<±x|±y|±z>", found=text
            )
        return cls.from_axes(parts["up"], parts["forward"])


def _axis_vector(name: str) -> FloatArray:
    s = name.strip().lower()
    sign = -1.0 if s.startswith("-") else 1.0
    axis = s.lstrip("+-")
    if axis not in _AXES:
        raise InputError("unknown sensor axis", expected="one of +x -x +y -y +z -z", found=name)
    v = np.zeros(3)
    v[_AXES[axis]] = sign
    return v


def _rotation_from(forward: FloatArray, up: FloatArray) -> FloatArray:
    """Rows ap, v, ml from an up vector and a forward hint (made horizontal); ``ml = ap × v`` (right)."""
    u = up / np.linalg.norm(up)
    f = forward - u * float(forward @ u)
    f = f / np.linalg.norm(f)
    return np.vstack([f, u, np.cross(f, u)])


def _apply(rotation: FloatArray, columns: FloatArray, out: FloatArray) -> None:
    """``out[n] = rotation @ v[n]`` from the columns ``v.T`` (3, N), element by element in a fixed order:
    the same bits for any N (a matrix product may take another code path for another N, and the output
    must not depend on chunking)."""
    for i in range(3):
        r = rotation[i]
        row = columns[0] * r[0]
        row += columns[1] * r[1]
        row += columns[2] * r[2]
        out[:, i] = row


def _norms(v: FloatArray) -> FloatArray:
    """Euclidean norms of the rows of ``v`` (m, 3), element by element (fixed order)."""
    out: FloatArray = np.sqrt(v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1] + v[:, 2] * v[:, 2])
    return out


def _dots(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise dot products of (m, 3) arrays, or of each row with one (3,) vector, in a fixed order."""
    out: FloatArray = a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]
    return out


def _rotations_from(forward: FloatArray, up: FloatArray) -> FloatArray:
    """:func:`_rotation_from` for each row of ``forward`` and ``up`` (m, 3): (m, 3, 3)."""
    u = up / _norms(up)[:, None]
    f = forward - u * _dots(forward, u)[:, None]
    f = f / _norms(f)[:, None]
    out = np.empty((f.shape[0], 3, 3))
    out[:, 0], out[:, 1] = f, u
    out[:, 2, 0] = f[:, 1] * u[:, 2] - f[:, 2] * u[:, 1]  # f × u, element by element
    out[:, 2, 1] = f[:, 2] * u[:, 0] - f[:, 0] * u[:, 2]
    out[:, 2, 2] = f[:, 0] * u[:, 1] - f[:, 1] * u[:, 0]
    return out


def _angles_deg(cos: FloatArray) -> FloatArray:
    out: FloatArray = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return out


def rotation_angle_deg(a: FloatArray, b: FloatArray) -> float:
    """The angle of the rotation taking frame ``a`` to frame ``b`` (both rows-as-axes)."""
    cos = (float(np.trace(a @ b.T)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


# ---------------------------------------------------------------------------------------------- outputs
@dataclass(frozen=True)
class FrameSettings:
    """How the frame is found; times in s, angles in degrees, accelerations in g (see the module docs)."""

    hop_s: float = 0.5
    window_s: float = 30.0
    band_hz: tuple[float, float] = (0.5, 5.0)
    flight_lowpass_hz: float = 5.0
    flight_g: float = 0.3
    running_flight_fraction: float = 0.05
    mode_scale: float = 0.02
    gait_rms_ms2: float = 0.5
    full_correlation: float = 0.3
    full_gait_s: float = 10.0
    up_fix_gait_s: float = 10.0
    """Seconds of gait-like motion after which up is fixed (until a slip)."""
    hysteresis_deg: float = 3.0
    min_commit_confidence: float = 0.2
    slip_angle_deg: float = 25.0
    slip_window_s: float = 2.0
    slip_hold_s: float = 3.0


class FrameSegment(NamedTuple):
    """From absolute sample ``start_index`` on, samples are rotated with ``rotation`` (rows ap, v, ml).

    A named tuple: one is noted per hop whose confidence changed (≈ 7,200 an hour), and a tuple is the
    cheapest immutable record to create."""

    start_index: int
    rotation: FloatArray
    confidence: float


@dataclass(frozen=True)
class FrameEvent:
    """The sensor moved on the body near sample ``index`` (gravity turned by ``angle_deg``); re-aligned."""

    index: int
    t_s: float
    angle_deg: float
    realigned: bool


def concat_body(blocks: list[BodyBlock]) -> BodyBlock:
    """Join consecutive body blocks (the ``join`` for :func:`imu.gait.stage.run_stream`)."""
    parts = [b for b in blocks if len(b)]
    if not parts:
        has_gyr = any(b.gyr is not None for b in blocks)
        return BodyBlock(
            np.empty(0),
            np.empty((0, 3)),
            np.empty((0, 3)) if has_gyr else None,
            blocks[0].start_index if blocks else 0,
        )
    gyr = [b.gyr for b in parts if b.gyr is not None]
    return BodyBlock(
        np.concatenate([b.t_s for b in parts]),
        np.concatenate([b.acc for b in parts]),
        np.concatenate(gyr) if len(gyr) == len(parts) else None,
        parts[0].start_index,
    )


# ---------------------------------------------------------------------------------------------- filters
_INPUT_BITS: Final = 17
"""Acceleration is rounded to multiples of 2**-17 m/s² (7.6e-6, far below any sensor's resolution) and
clipped to ±2048 m/s² before the filters' exact integer sums."""
_INPUT_LIMIT: Final = 2048.0


def _boxcar_samples(edge_hz: float, rate_hz: float, gain: float, order: int) -> int:
    """Length ``L`` (samples) of a boxcar whose cascade of ``order``, with the response
    ``sinc^order(f·L/rate)``, responds with ``gain`` at ``edge_hz`` (bisection: sinc falls on [0, 1])."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.sinc(mid) ** order > gain else (lo, mid)
    return max(1, round(lo * rate_hz / edge_hz))


class _CascadeFilters:
    """Band-pass and low-pass of a 3-axis stream from cascaded trailing boxcars, exact and so the same bits
    for any chunking (module docstring, *Filters*): ``band = short − long``, ``low`` = the flight cascade."""

    SHORT_ORDER: Final = 3
    LONG_ORDER: Final = 2

    def __init__(self, rate_hz: float, band_hz: tuple[float, float], low_hz: float) -> None:
        top_hz = 0.9 * rate_hz / 2
        self.short = _boxcar_samples(min(band_hz[1], top_hz), rate_hz, 0.5**0.5, self.SHORT_ORDER)
        self.flight = _boxcar_samples(min(low_hz, top_hz), rate_hz, 0.5**0.5, self.SHORT_ORDER)
        # the long cascade takes out what lies below band_hz[0]: 1 − sinc² is −3 dB there
        edge = _boxcar_samples(band_hz[0], rate_hz, 1.0 - 0.5**0.5, self.LONG_ORDER)
        self.long = max(self.short, self.flight, edge)
        self._keep = max(self.SHORT_ORDER * max(self.short, self.flight), self.LONG_ORDER * self.long)
        """Inputs before the first new one that the sums reach."""
        self._history: NDArray[np.int64] | None = None
        self._sums = np.empty((4, 3, 0), dtype=np.int64)  # inputs, summed once, twice, thrice
        self._work = np.empty((2, 3, 0), dtype=np.int64)
        self._scaled = np.empty((3, 0))

    def update(self, acc: FloatArray, band: FloatArray, low: FloatArray) -> None:
        """Band-pass and low-pass ``acc`` (3, N) m/s² into ``band`` and ``low`` (3, N)."""
        n = acc.shape[1]
        if n == 0:
            return
        m = self._keep + n
        if self._sums.shape[2] < m:  # work arrays kept across calls: fresh large ones cost page faults
            self._sums = np.empty((4, 3, max(m, 2 * self._sums.shape[2])), dtype=np.int64)
            self._work = np.empty((2, 3, self._sums.shape[2]), dtype=np.int64)
            self._scaled = np.empty((3, self._sums.shape[2]))
        scaled = self._scaled[:, :n]
        np.multiply(acc, 2.0**_INPUT_BITS, out=scaled)
        np.clip(scaled, -_INPUT_LIMIT * 2.0**_INPUT_BITS, _INPUT_LIMIT * 2.0**_INPUT_BITS, out=scaled)
        if not np.isfinite(scaled.sum()):  # a non-finite sample counts as 0 (and passes on)
            scaled[~np.isfinite(scaled)] = 0.0
        np.rint(scaled, out=scaled)
        ext, once, twice, thrice = (a[:, :m] for a in self._sums)
        if self._history is None:  # the first sample stands in for the inputs before it
            ext[:, : self._keep] = scaled[:, :1]
        else:
            ext[:, : self._keep] = self._history
        np.copyto(ext[:, self._keep :], scaled, casting="unsafe")  # integers already
        self._history = ext[:, n:].copy()
        # inputs summed once, twice, three times: a cascade's sum is a difference of them (int64 throughout;
        # a wrap-around cancels in the difference)
        np.cumsum(ext, axis=1, out=once)
        np.cumsum(once, axis=1, out=twice)
        np.cumsum(twice, axis=1, out=thrice)
        self._mean(thrice, self.short, 3, band)
        if self.flight == self.short:
            low[:] = band
        else:
            self._mean(thrice, self.flight, 3, low)
        long = self._scaled[:, :n]
        self._mean(twice, self.long, 2, long)
        band -= long

    def _mean(self, summed: NDArray[np.int64], length: int, order: int, out: FloatArray) -> None:
        """Means of ``order`` (2 or 3) cascaded boxcars of ``length`` ending at each new input, from the
        inputs summed ``order`` times (their ``order``-th difference at steps of ``length``), into ``out``."""
        n, e = out.shape[1], self._keep
        total, inner = self._work[0, :, :n], self._work[1, :, :n]
        s0, s1, s2 = (summed[:, e - r * length : e - r * length + n] for r in range(3))
        if order == 2:  # (s0 - s1) - (s1 - s2)
            np.subtract(s0, s1, out=total)
            total -= s1
            total += s2
        else:  # (s0 - s3) - 3 (s1 - s2)
            assert order == 3
            np.subtract(s1, s2, out=inner)
            inner *= 3
            np.subtract(s0, summed[:, e - 3 * length : e - 3 * length + n], out=total)
            total -= inner
        np.multiply(total, 2.0**-_INPUT_BITS / float(length) ** order, out=out)


# ---------------------------------------------------------------------------------------------- the stage
# A hop's row of additive sums (the window estimate is a function of their sum over the window's hops):
_ACC = slice(0, 3)  # Σ acc
_SIGNED = slice(3, 12)  # -mode_weight · Σ a ȧᵀ (band-passed acc a, jerk ȧ), row-major
_BAND = slice(12, 18)  # |mode_weight| · Σ a aᵀ, entries xx xy xz yy yz zz
_JERK = slice(18, 24)  # |mode_weight| · Σ ȧ ȧᵀ, same entries
_MOVING, _MOVING_N, _ENERGY, _ENERGY_W = (
    24,
    25,
    26,
    27,
)  # gait-like hops: 1, samples, tr Σ a aᵀ, · |mode_weight|
_N_SUMS = 28
_UPPER = (np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 2, 1, 2, 2]))
_SUB_BATCH: Final = (16, 512)
"""Hops evaluated together, fewest and most: after a change of the frame in use the rest is evaluated again,
so the batch starts small after a change and doubles while none comes (commits are frequent in a stream's
first seconds, rare afterwards; batch sizes change the work only, not the bits)."""


def _quad(m6: FloatArray, u: FloatArray) -> FloatArray:
    """``uᵀ M u`` per row for symmetric M given by its upper entries (xx xy xz yy yz zz), fixed order."""
    u0, u1, u2 = u[:, 0], u[:, 1], u[:, 2]
    diag = m6[:, 0] * (u0 * u0) + m6[:, 3] * (u1 * u1) + m6[:, 5] * (u2 * u2)
    off = m6[:, 1] * (u0 * u1) + m6[:, 2] * (u0 * u2) + m6[:, 4] * (u1 * u2)
    out: FloatArray = diag + 2.0 * off
    return out


def _frame_cos(frames: FloatArray, rotation: FloatArray) -> FloatArray:
    """Cosine of the rotation angle from each of ``frames`` (m, 3, 3) to ``rotation``: (tr(a bᵀ) - 1) / 2."""
    trace = (
        _dots(frames[:, 0], rotation[0]) + _dots(frames[:, 1], rotation[1]) + _dots(frames[:, 2], rotation[2])
    )
    out: FloatArray = (trace - 1.0) / 2.0
    return out


@dataclass(frozen=True, eq=False)
class _Hops:
    """The hops that closed in one call, in order: their sums and, for the flight fraction, their low-passed
    acceleration in ``parts`` of equal-length hops ``(first hop, (3, hops, samples))``."""

    index: NDArray[np.int64]  # absolute hop index (start_index // hop length)
    start_index: NDArray[np.int64]
    t_start_s: FloatArray
    n: NDArray[np.int64]
    moments: FloatArray  # (m, 6, 6): Σ x xᵀ of x = (band-passed acc, jerk)
    acc_sum: FloatArray  # (m, 3)
    parts: list[tuple[int, FloatArray]]

    def flight_counts(self, h0: int, h1: int, up: FloatArray, threshold: float) -> NDArray[np.int64]:
        """Samples of hops ``[h0, h1)`` whose low-passed acceleration along ``up`` is below ``threshold``."""
        out = np.empty(h1 - h0, dtype=np.int64)
        for first, low in self.parts:
            a, b = max(h0, first), min(h1, first + low.shape[1])
            if a < b:
                lv = low[:, a - first : b - first]
                along = lv[0] * up[0] + lv[1] * up[1] + lv[2] * up[2]
                out[a - h0 : b - h0] = np.count_nonzero(along < threshold, axis=1)
        return out


class BodyFrameStage:
    """Sensor-frame blocks in, body-frame blocks out, with no delay (see the module docstring).

    Results (ending in ``_``): ``segments_`` the frames in effect from each start index, ``events_`` the
    re-alignments, ``confidence_`` the confidence of the latest estimate, ``up_fixed_`` whether up is fixed.
    """

    def __init__(
        self, rate_hz: float, settings: FrameSettings | None = None, mounting: Mounting | None = None
    ):
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise InputError("the sampling rate must be positive", expected="rate_hz > 0", found=str(rate_hz))
        self.settings = s = settings or FrameSettings()
        self.rate_hz = float(rate_hz)
        self.mounting = mounting
        self._hop_n = max(1, round(s.hop_s * rate_hz))
        self._window_hops = w = max(1, round(s.window_s / s.hop_s))
        self._slip_hops = max(1, round(s.slip_window_s / s.hop_s))
        self._hold_hops = max(1, round(s.slip_hold_s / s.hop_s))
        self._filters = _CascadeFilters(rate_hz, s.band_hz, s.flight_lowpass_hz)
        self._prev_band = np.zeros(3)
        self._has_gyr: bool | None = None
        self._next_index: int | None = None  # absolute index of the next sample expected
        # the open hop: rows band (3), jerk (3), low (3), acc (3) of its samples so far, and its first time
        self._open = np.empty((12, 0))
        self._open_t_s = 0.0
        self._hops_closed = 0
        self._batch = _SUB_BATCH[0]  # hops to evaluate together next
        self._first_hop = 0  # absolute index of the window's first hop (stream start or slip onset)
        # window sums (module docstring): aligned groups of one window of hop rows each
        self._group = -1
        self._cur = np.zeros((w, _N_SUMS))
        self._prev = np.zeros((w, _N_SUMS))
        self._pre = np.zeros(_N_SUMS)
        self._suf = np.zeros((w + 1, _N_SUMS))
        self._ring_start = np.zeros(2 * w, dtype=np.int64)  # start index and time of the last hops
        self._ring_t_s = np.zeros(2 * w)
        self._recent_acc = np.zeros((self._slip_hops - 1, 3))  # Σ acc of the last hops (slip check)
        self._slip_count = 0
        self._slip_onset: int | None = None  # absolute hop index
        self._up_sum = np.zeros(3)  # Σ acc since the stream's start or the last slip
        self._gait_n = 0  # samples of gait-like hops since then
        self.up_fixed_ = False
        self.segments_: list[FrameSegment] = []
        self.events_: list[FrameEvent] = []
        if mounting is not None:
            self._rotation: FloatArray | None = mounting.rotation
            self.confidence_ = 1.0
        else:
            self._rotation = None
            self.confidence_ = 0.0

    @property
    def look_ahead_s(self) -> float:
        """No delay: each sample is rotated with the frame committed before its hop."""
        return 0.0

    @property
    def rotation_(self) -> FloatArray | None:
        """The frame committed last (rows ap, v, ml in sensor coordinates), ``None`` before any data."""
        return self._rotation

    # ------------------------------------------------------------------ streaming
    def update(self, block: SampleBlock) -> BodyBlock:
        if self._has_gyr is None and len(block):
            self._has_gyr = block.has_gyr
        if len(block) and block.has_gyr != self._has_gyr:
            raise InputError(
                "the gyroscope cannot appear or vanish mid-stream",
                expected="all blocks with or all without angular rate",
            )
        if len(block) == 0:
            return self._empty(block.start_index if self._next_index is None else self._next_index)
        if self._next_index is None:
            self._start_frame(block.acc[0])
            self._first_hop = block.start_index // self._hop_n
        elif block.start_index != self._next_index:
            raise InputError(
                "blocks must be consecutive",
                expected=f"start_index {self._next_index}",
                found=str(block.start_index),
            )
        self._next_index = block.stop_index
        acc = np.ascontiguousarray(block.acc.T)
        rotation, confidence = self._rotation, self.confidence_
        closed = self._close(self._cut_hops(self._derive(acc), block))
        return self._rotate(block, acc, rotation, confidence, closed)

    def flush(self) -> BodyBlock:
        if self._open.shape[1]:
            assert self._next_index is not None
            first = self._next_index - self._open.shape[1]
            self._close(self._hops_of([(first, self._open[:, None, :], np.array([self._open_t_s]))]))
            self._open = np.empty((12, 0))
        return self._empty(self._next_index or 0)

    # ------------------------------------------------------------------ samples → hops
    def _empty(self, start: int) -> BodyBlock:
        has_gyr = bool(self._has_gyr) if self._has_gyr is not None else True
        return BodyBlock(np.empty(0), np.empty((0, 3)), np.empty((0, 3)) if has_gyr else None, start)

    def _start_frame(self, first_acc: FloatArray) -> None:
        """Before any hop has closed: up along the first sample's acceleration, confidence 0."""
        if self._rotation is not None:
            return
        norm = float(np.linalg.norm(first_acc))
        up = first_acc / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
        self._rotation = _rotation_from(self._placeholder_forward(up), up)

    def _placeholder_forward(self, up: FloatArray) -> FloatArray:
        """Before any gait: the current forward if there is one, else the most horizontal sensor axis."""
        if self._rotation is not None:
            return self._rotation[0]
        return np.eye(3)[int(np.argmin(np.abs(up)))]

    def _derive(self, acc: FloatArray) -> FloatArray:
        """Rows band-pass (3), jerk (3), low-pass (3), acc (3) of the block's samples (columns), filter state
        carried over."""
        out = np.empty((12, acc.shape[1]))
        self._filters.update(acc, out[0:3], out[6:9])
        np.subtract(out[0:3, :1], self._prev_band[:, None], out=out[3:6, :1])
        np.subtract(out[0:3, 1:], out[0:3, :-1], out=out[3:6, 1:])
        out[3:6] *= self.rate_hz
        out[9:12] = acc
        self._prev_band = out[0:3, -1].copy()
        return out

    def _cut_hops(self, derived: FloatArray, block: SampleBlock) -> _Hops:
        """The hops the block completes (the open one first); the rest stays open."""
        n, k = self._hop_n, self._open.shape[1]
        first = block.start_index - k
        if k:
            derived = np.concatenate([self._open, derived], axis=1)
        t_s = block.t_s
        total = derived.shape[1]
        parts = []
        pos = 0
        head = -first % n  # samples before the first hop boundary (a stream starting mid-hop)
        if 0 < head <= total:
            parts.append((first, derived[:, None, :head], np.array([self._open_t_s if k else t_s[0]])))
            pos = head
        m = (total - pos) // n if head <= total else 0
        if m:
            starts = pos + n * np.arange(m)
            times = t_s[np.maximum(starts - k, 0)]
            if k and pos == 0:
                times[0] = self._open_t_s
            parts.append((first + pos, derived[:, pos : pos + m * n].reshape(12, m, n), times))
            pos += m * n
        if pos < total:
            self._open_t_s = self._open_t_s if (k and pos == 0) else float(t_s[pos - k])
        self._open = derived[:, pos:].copy()
        return self._hops_of(parts)

    def _hops_of(self, parts: list[tuple[int, FloatArray, FloatArray]]) -> _Hops:
        """Sums of hops given as ``(first sample, (12, hops, samples), start times)`` parts."""
        index, start, times, n, moments, acc_sum, lows = [], [], [], [], [], [], []
        h = 0
        for first, d, t_s in parts:
            m, length = d.shape[1], d.shape[2]
            # each hop's (6, samples) as its own contiguous matrix: the same bits wherever the block was cut
            x = np.ascontiguousarray(d[0:6].transpose(1, 0, 2))
            moments.append(x @ x.transpose(0, 2, 1))
            acc_sum.append(d[9:12].sum(axis=2).T)
            starts = first + length * np.arange(m)
            start.append(starts)
            index.append(starts // self._hop_n)
            times.append(t_s)
            n.append(np.full(m, length))
            lows.append((h, d[6:9]))
            h += m
        if not parts:
            e = np.empty(0, dtype=np.int64)
            return _Hops(e, e, np.empty(0), e, np.empty((0, 6, 6)), np.empty((0, 3)), [])
        return _Hops(
            np.concatenate(index),
            np.concatenate(start),
            np.concatenate(times),
            np.concatenate(n),
            np.concatenate(moments),
            np.concatenate(acc_sum),
            lows,
        )

    # ------------------------------------------------------------------ hops → frames
    def _close(self, hops: _Hops) -> list[tuple[int, FloatArray, float]]:
        """Close the hops in order; returns (index after the hop, frame, confidence) in effect after each."""
        out: list[tuple[int, FloatArray, float]] = []
        h, m = 0, len(hops.index)
        while h < m:
            stop = min(m, h + self._batch)
            h = self._close_some(hops, h, stop, out)
            self._batch = min(2 * self._batch, _SUB_BATCH[1]) if h == stop else _SUB_BATCH[0]
        return out

    def _hop_rows(self, hops: _Hops, h0: int, h1: int) -> FloatArray:
        """The rows of sums of hops ``[h0, h1)``; the mode weight takes the up in use when each closes."""
        s = self.settings
        assert self._rotation is not None
        up = self._rotation[1]
        threshold = s.flight_g * STANDARD_GRAVITY_MS2
        counts = hops.flight_counts(h0, h1, up, threshold)
        if self._hops_closed == 0:  # the stream's first hop: up along its own mean
            mean = hops.acc_sum[h0]
            own = mean / max(float(_norms(mean[None])[0]), 1e-12)
            counts[0] = hops.flight_counts(h0, h0 + 1, own, threshold)[0]
        n = hops.n[h0:h1].astype(np.float64)
        weight = np.tanh((counts / n - s.running_flight_fraction) / s.mode_scale)
        moments = hops.moments[h0:h1]
        energy = (moments[:, 0, 0] + moments[:, 1, 1]) + moments[:, 2, 2]
        moving = (np.sqrt(energy / n) > s.gait_rms_ms2).astype(np.float64)
        size = abs(weight)
        rows = np.empty((h1 - h0, _N_SUMS))
        rows[:, _ACC] = hops.acc_sum[h0:h1]
        rows[:, _SIGNED] = -weight[:, None] * moments[:, 0:3, 3:6].reshape(-1, 9)
        rows[:, _BAND] = size[:, None] * moments[:, _UPPER[0], _UPPER[1]]
        rows[:, _JERK] = size[:, None] * moments[:, 3 + _UPPER[0], 3 + _UPPER[1]]
        rows[:, _MOVING] = moving
        rows[:, _MOVING_N] = moving * n
        rows[:, _ENERGY] = moving * energy
        rows[:, _ENERGY_W] = moving * (energy * size)
        return rows

    def _window_sums(self, q0: int, rows: FloatArray) -> tuple[FloatArray, tuple[Any, ...]]:
        """Sums over the trailing window of hops ``q0, q0 + 1, …`` given their rows, and the group state
        after them (not yet adopted)."""
        w = self._window_hops
        group, cur, prev, pre, suf = self._group, self._cur, self._prev, self._pre, self._suf
        sums = np.empty_like(rows)
        copied = False
        i, m = 0, rows.shape[0]
        while i < m:
            g, p = divmod(q0 + i, w)
            if g != group:
                prev = cur if g == group + 1 else np.zeros((w, _N_SUMS))
                suf = _suffix_sums(prev)
                cur, pre, group, copied = np.zeros((w, _N_SUMS)), np.zeros(_N_SUMS), g, True
            elif not copied:
                cur, copied = cur.copy(), True
            j = min(m, i + w - p)
            cur[p : p + j - i] = rows[i:j]
            run = np.cumsum(np.concatenate([pre[None], rows[i:j]]), axis=0)[1:]
            sums[i:j] = suf[p + 1 : p + 1 + j - i] + run
            pre = run[-1]
            i = j
        return sums, (group, cur, prev, pre, suf)

    def _close_some(self, hops: _Hops, h0: int, h1: int, out: list[tuple[int, FloatArray, float]]) -> int:
        """Close hops from ``h0`` on, evaluated together up to ``h1``, until the frame in use changes;
        returns the next hop to close."""
        s = self.settings
        rotation = self._rotation
        assert rotation is not None
        m = h1 - h0
        q = hops.index[h0:h1]
        rows = self._hop_rows(hops, h0, h1)
        sums, group_state = self._window_sums(int(q[0]), rows)
        up_sums = np.cumsum(np.concatenate([self._up_sum[None], rows[:, _ACC]]), axis=0)[1:]
        gait_n = self._gait_n + np.cumsum(hops.n[h0:h1] * (rows[:, _MOVING] > 0))
        # slip check: the gravity direction of the last slip_hops hops against the reference up
        recent = np.concatenate([self._recent_acc, rows[:, _ACC]])
        k = self._slip_hops
        u = recent[0:m]
        for j in range(1, k):
            u = u + recent[j : j + m]
        norm = _norms(u)
        checkable = (np.minimum(self._window_hops, q - self._first_hop + 1) >= k + 1) & (norm != 0)
        reference = self.mounting.rotation if self.mounting is not None else rotation
        with np.errstate(invalid="ignore", divide="ignore"):
            slip_deg = _angles_deg(_dots(u / norm[:, None], reference[1]))
        frames = np.empty((0, 3, 3))
        turn_deg: list[float] = []
        tilt_deg: list[float] = []
        conf: list[float] = []
        if self.mounting is None:
            frames, confidence = self._estimate(sums, rotation[1] if self.up_fixed_ else None, rotation[0])
            turn = _angles_deg(_frame_cos(frames, rotation))
            turn_deg = turn.tolist()
            tilt_deg = _angles_deg(_dots(frames[:, 1], rotation[1])).tolist()
            conf = confidence.tolist()
        fix_n = s.up_fix_gait_s * self.rate_hz
        check, slip, gait = checkable.tolist(), slip_deg.tolist(), gait_n.tolist()
        ends = (hops.start_index[h0:h1] + hops.n[h0:h1]).tolist()
        # plain hops (no slip pending, up not to be fixed, enough evidence, no turn beyond the hysteresis)
        # only take their confidence: they are passed in runs, the rules below run for the others
        irregular = [*range(m), m]  # a stated mounting: every hop through the rules (slips only)
        if self.mounting is None:
            plain = (~checkable | (slip_deg <= s.slip_angle_deg)) & (confidence >= s.min_commit_confidence)
            plain &= turn <= s.hysteresis_deg
            if not self.up_fixed_:
                plain &= gait_n < fix_n
            irregular = [*np.flatnonzero(~plain).tolist(), m]
        action = ""
        stop = m
        i = 0
        for j in irregular:
            if j > i:
                if any(check[i:j]):
                    self._slip_count, self._slip_onset = 0, None
                self.confidence_ = conf[j - 1]
                out.extend([(e, rotation, c) for e, c in zip(ends[i:j], conf[i:j], strict=True)])
            if j == m:
                break
            i = j + 1
            if check[j]:
                if slip[j] <= s.slip_angle_deg:
                    self._slip_count, self._slip_onset = 0, None
                else:
                    if self._slip_onset is None:
                        self._slip_onset = int(q[j]) - k + 1
                    self._slip_count += 1
                    if self._slip_count >= self._hold_hops:
                        realign = self.mounting is None
                        start, t_s = self._hop_start(self._slip_onset, hops, h0, int(q[0]))
                        self.events_.append(FrameEvent(start, t_s, slip[j], realign))
                        if realign:
                            action, stop = f"realign {self._slip_onset}", j + 1
                            self._slip_count, self._slip_onset = 0, None
                            break
                        self._slip_count, self._slip_onset = 0, None
            if self.mounting is not None:
                out.append((ends[j], rotation, self.confidence_))
                continue
            if not self.up_fixed_ and gait[j] >= fix_n:
                action, stop = "fix", j + 1
                break
            c = conf[j]
            if c >= s.min_commit_confidence or c >= self.confidence_:
                self.confidence_ = c
                if turn_deg[j] > s.hysteresis_deg:
                    self._rotation = frames[j]
                    action, stop = "changed", j + 1
            elif tilt_deg[j] > s.hysteresis_deg:
                # too little evidence for the forward axis: keep it, follow gravity only (up not yet fixed)
                self._rotation = _rotations_from(rotation[0][None], frames[j, 1][None])[0]
                action, stop = "changed", j + 1
            if action:
                break
            out.append((ends[j], rotation, self.confidence_))
        # adopt the state after the hops closed; the ring keeps the last 2 windows of closed hops
        kept = slice(h0 + max(0, stop - 2 * self._window_hops), h0 + stop)
        ring = hops.index[kept] % (2 * self._window_hops)
        self._ring_start[ring] = hops.start_index[kept]
        self._ring_t_s[ring] = hops.t_start_s[kept]
        if stop < m:
            _, group_state = self._window_sums(int(q[0]), rows[:stop])
        self._group, self._cur, self._prev, self._pre, self._suf = group_state
        self._recent_acc = recent[stop : stop + k - 1]
        self._up_sum = up_sums[stop - 1]
        self._gait_n = int(gait_n[stop - 1])
        self._hops_closed += stop
        last = int(q[stop - 1])
        if action.startswith("realign"):
            self._realign(int(action.split()[1]), last)
        if action in ("fix",) or action.startswith("realign"):
            self._commit_one(self._window_at(last))
        if action:
            assert self._rotation is not None
            out.append((ends[stop - 1], self._rotation, self.confidence_))
        return h0 + stop

    def _hop_start(self, hop: int, hops: _Hops, h0: int, first: int) -> tuple[int, float]:
        """First sample index and time of hop ``hop``: from this call's hops when it is one of them, else
        from the ring of hops closed by earlier calls (written only after a call, so never ahead of it)."""
        if hop >= first:
            return int(hops.start_index[h0 + hop - first]), float(hops.t_start_s[h0 + hop - first])
        at = hop % (2 * self._window_hops)
        return int(self._ring_start[at]), float(self._ring_t_s[at])

    def _window_at(self, q: int) -> FloatArray:
        """The window sums of hop ``q`` (the last closed) from the adopted group state."""
        p = q % self._window_hops
        window: FloatArray = self._suf[p + 1] + self._pre
        return window

    def _realign(self, onset: int, last: int) -> None:
        """After a slip: drop the hops before ``onset`` and re-estimate the frame from those after it."""
        w = self._window_hops
        g, p = divmod(onset, w)
        if g == self._group:
            self._cur[:p] = 0.0
            self._prev[:] = 0.0
        elif g == self._group - 1:
            self._prev[:p] = 0.0
        current = self._cur[: last % w + 1]
        self._suf = _suffix_sums(self._prev)
        self._pre = np.cumsum(np.concatenate([np.zeros((1, _N_SUMS)), current]), axis=0)[-1]
        kept = np.concatenate([self._prev, current])[-(last - max(onset, last - w + 1) + 1) :]
        self._up_sum = np.cumsum(kept[:, _ACC], axis=0)[-1]
        self._gait_n = int(kept[:, _MOVING_N].sum())
        self._first_hop = onset
        self.up_fixed_ = False
        assert self._rotation is not None
        frames, confidence = self._estimate(self._window_at(last)[None], None, self._rotation[0])
        self._rotation, self.confidence_ = frames[0], float(confidence[0])

    def _commit_one(self, window: FloatArray) -> None:
        """The commit rules for one hop (module docstring): fix up once enough gait is seen; take a new frame
        only beyond the hysteresis and only on enough evidence for the forward axis."""
        s = self.settings
        rotation = self._rotation
        assert rotation is not None
        if not self.up_fixed_ and self._gait_n >= s.up_fix_gait_s * self.rate_hz:
            self.up_fixed_ = True
            up = self._up_sum / _norms(self._up_sum[None])[0]
            frames, confidence = self._estimate(window[None], up, rotation[0])
            conf = float(confidence[0])
            if conf < s.min_commit_confidence and conf < self.confidence_:
                self._rotation = _rotations_from(rotation[0][None], up[None])[0]
            else:
                self._rotation, self.confidence_ = frames[0], conf
            return
        frames, confidence = self._estimate(
            window[None], rotation[1] if self.up_fixed_ else None, rotation[0]
        )
        conf = float(confidence[0])
        if conf >= s.min_commit_confidence or conf >= self.confidence_:
            if _angles_deg(_frame_cos(frames, rotation))[0] > s.hysteresis_deg:
                self._rotation = frames[0]
            self.confidence_ = conf
        elif _angles_deg(_dots(frames[:, 1], rotation[1]))[0] > s.hysteresis_deg:
            self._rotation = _rotations_from(rotation[0][None], frames[:, 1])[0]

    def _estimate(
        self, sums: FloatArray, up: FloatArray | None, placeholder: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Frames (m, 3, 3) and confidences (m,) from window sums (m, ·); ``up`` when it is fixed;
        ``placeholder`` is the forward axis where there is no evidence (confidence 0)."""
        s = self.settings
        m = sums.shape[0]
        if up is None:
            acc = sums[:, _ACC]
            norm_acc = _norms(acc)
            ok = norm_acc > 0
            ups = np.where(ok[:, None], acc / np.where(ok, norm_acc, 1.0)[:, None], np.array([0.0, 0.0, 1.0]))
        else:
            ups = np.broadcast_to(up, (m, 3))
        signed = sums[:, _SIGNED].reshape(m, 3, 3)
        v = np.stack([_dots(signed[:, 0], ups), _dots(signed[:, 1], ups), _dots(signed[:, 2], ups)], axis=1)
        c = v - ups * _dots(ups, v)[:, None]  # the horizontal part of Σ signed · up
        band, jerk = sums[:, _BAND], sums[:, _JERK]
        horizontal_band = ((band[:, 0] + band[:, 3]) + band[:, 5]) - _quad(band, ups)
        norm = np.sqrt(np.maximum(horizontal_band, 0.0) * np.maximum(_quad(jerk, ups), 0.0))
        norm_c = _norms(c)
        good = (norm > 0) & (sums[:, _MOVING] > 0) & (norm_c != 0)
        r = norm_c / np.where(good, norm, 1.0)
        certainty = sums[:, _ENERGY_W] / np.where(good, sums[:, _ENERGY], 1.0)
        gait_s = sums[:, _MOVING_N] / self.rate_hz
        conf = certainty * np.minimum(1.0, r / s.full_correlation) * np.minimum(1.0, gait_s / s.full_gait_s)
        conf = np.where(good, np.clip(conf, 0.0, 1.0), 0.0)
        forward = np.where(good[:, None], c, placeholder)
        return _rotations_from(forward, ups), conf

    # ------------------------------------------------------------------ output
    def _rotate(
        self,
        block: SampleBlock,
        acc: FloatArray,
        rotation: FloatArray | None,
        confidence: float,
        closed: list[tuple[int, FloatArray, float]],
    ) -> BodyBlock:
        """The block in the frames in use: those before its first hop boundary, then after each closed hop
        (recorded in ``segments_``)."""
        if self.mounting is not None:
            rotation, confidence = self.mounting.rotation, 1.0
            closed = []
        assert rotation is not None
        n = len(block)
        gyr = None if block.gyr is None else np.ascontiguousarray(block.gyr.T)
        acc_out = np.empty((n, 3))
        gyr_out = None if gyr is None else np.empty((n, 3))
        first = start = block.start_index
        stop = first + n
        run_start = 0  # the samples from here to the current piece share one rotation
        last = self.segments_[-1] if self.segments_ else None  # a new segment only where the frame changes
        for end, next_rotation, next_confidence in [*closed, (stop, None, 0.0)]:
            end = stop if end > stop else end
            if end > start and (
                last is None
                or last.confidence != confidence
                or (last.rotation is not rotation and not np.array_equal(last.rotation, rotation))
            ):
                last = FrameSegment(start, rotation, confidence)
                self.segments_.append(last)
            if next_rotation is not rotation or end == stop:
                j = end - first
                if j > run_start:
                    _apply(rotation, acc[:, run_start:j], acc_out[run_start:j])
                    if gyr is not None and gyr_out is not None:
                        _apply(rotation, gyr[:, run_start:j], gyr_out[run_start:j])
                run_start = j
            start = end
            if next_rotation is not None:
                rotation, confidence = next_rotation, next_confidence
        return BodyBlock(block.t_s, acc_out, gyr_out, block.start_index)


def _suffix_sums(rows: FloatArray) -> FloatArray:
    """``out[p] = rows[p] + … + rows[-1]`` accumulated from the end; ``out[len(rows)] = 0``."""
    out = np.zeros((rows.shape[0] + 1, rows.shape[1]))
    out[:-1] = np.cumsum(rows[::-1], axis=0)[::-1]
    return out
