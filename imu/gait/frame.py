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
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.signal import butter, sosfilt, sosfilt_zi

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


def _apply(rotation: FloatArray, v: FloatArray) -> FloatArray:
    """``rotation @ row`` for each row of ``v`` (N, 3), element by element: the same bits for any N (a
    matrix product may take another code path for another N, and the output must not depend on chunking)."""
    out: FloatArray = v[:, 0:1] * rotation[:, 0] + v[:, 1:2] * rotation[:, 1] + v[:, 2:3] * rotation[:, 2]
    return out


def _angle_deg(a: FloatArray, b: FloatArray) -> float:
    """The angle between two unit vectors."""
    return float(np.degrees(np.arccos(np.clip(float(a @ b), -1.0, 1.0))))


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


@dataclass(frozen=True)
class FrameSegment:
    """From absolute sample ``start_index`` on, samples are rotated with ``rotation`` (rows ap, v, ml)."""

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


@dataclass(frozen=True, eq=False)
class _Hop:
    """Sums over one hop: what the frame estimate needs, additive over hops."""

    index: int
    start_index: int
    t_start_s: float
    n: int
    acc_sum: FloatArray
    band_cov: FloatArray  # Σ a aᵀ of band-passed acc
    jerk_cov: FloatArray  # Σ ȧ ȧᵀ
    cross: FloatArray  # Σ a ȧᵀ
    mode_weight: float  # +1 running … -1 walking
    moving: bool


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


# ---------------------------------------------------------------------------------------------- the stage
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
        self._window_hops = max(1, round(s.window_s / s.hop_s))
        self._slip_hops = max(1, round(s.slip_window_s / s.hop_s))
        self._hold_hops = max(1, round(s.slip_hold_s / s.hop_s))
        nyq = rate_hz / 2
        self._band = butter(
            2, [s.band_hz[0], min(s.band_hz[1], 0.45 * rate_hz)], "band", fs=rate_hz, output="sos"
        )
        self._low = butter(2, min(s.flight_lowpass_hz, 0.45 * nyq * 2), "low", fs=rate_hz, output="sos")
        self._band_zi: FloatArray | None = None
        self._low_zi: FloatArray | None = None
        self._prev_band: FloatArray | None = None
        self._has_gyr: bool | None = None
        self._next_index: int | None = None  # absolute index of the next sample expected
        # the open hop's raw and derived per-sample signals
        self._hop_band = np.empty((0, 3))
        self._hop_jerk = np.empty((0, 3))
        self._hop_low = np.empty((0, 3))
        self._hop_acc = np.empty((0, 3))
        self._hop_start = (0, 0.0)
        self._hops: deque[_Hop] = deque(maxlen=self._window_hops)
        self._slip_count = 0
        self._slip_onset: _Hop | None = None
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
        elif block.start_index != self._next_index:
            raise InputError(
                "blocks must be consecutive",
                expected=f"start_index {self._next_index}",
                found=str(block.start_index),
            )
        self._next_index = block.stop_index
        out: list[BodyBlock] = []
        i, n = 0, len(block)
        while i < n:
            abs_i = block.start_index + i
            to_boundary = self._hop_n - abs_i % self._hop_n
            j = min(n, i + to_boundary)
            out.append(self._rotate(block, i, j))
            self._add_derived(block.acc[i:j], abs_i, float(block.t_s[i]))
            if j - i == to_boundary:
                self._close_hop(abs_i // self._hop_n)
            i = j
        return concat_body(out)

    def flush(self) -> BodyBlock:
        if len(self._hop_low):
            assert self._next_index is not None
            self._close_hop((self._next_index - 1) // self._hop_n)
        return self._empty(self._next_index or 0)

    # ------------------------------------------------------------------ internals
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

    def _add_derived(self, acc: FloatArray, first_index: int, first_t_s: float) -> None:
        """Band-pass, jerk and low-pass of the open hop's new samples (filter state carried over)."""
        if len(self._hop_acc) == 0:
            self._hop_start = (first_index, first_t_s)
        if self._band_zi is None:
            self._band_zi = sosfilt_zi(self._band)[:, :, None] * acc[0][None, None, :]
            self._low_zi = sosfilt_zi(self._low)[:, :, None] * acc[0][None, None, :]
            self._prev_band = np.zeros(3)
        band, self._band_zi = sosfilt(self._band, acc, axis=0, zi=self._band_zi)
        low, self._low_zi = sosfilt(self._low, acc, axis=0, zi=self._low_zi)
        assert self._prev_band is not None
        jerk = np.diff(band, axis=0, prepend=self._prev_band[None, :]) * self.rate_hz
        self._prev_band = band[-1]
        self._hop_band = np.concatenate([self._hop_band, band])
        self._hop_jerk = np.concatenate([self._hop_jerk, jerk])
        self._hop_low = np.concatenate([self._hop_low, low])
        self._hop_acc = np.concatenate([self._hop_acc, acc])

    def _close_hop(self, hop_index: int) -> None:
        s = self.settings
        n = len(self._hop_low)
        first, t_first = self._hop_start
        acc = self._hop_acc
        band, jerk = self._hop_band, self._hop_jerk
        assert self._rotation is not None
        mean = acc.sum(axis=0)
        up = self._rotation[1] if self._hops else mean / max(float(np.linalg.norm(mean)), 1e-12)
        flight = float(np.mean(self._hop_low @ up < s.flight_g * STANDARD_GRAVITY_MS2))
        hop = _Hop(
            index=hop_index,
            start_index=first,
            t_start_s=t_first,
            n=n,
            acc_sum=acc.sum(axis=0),
            band_cov=band.T @ band,
            jerk_cov=jerk.T @ jerk,
            cross=band.T @ jerk,
            mode_weight=float(np.tanh((flight - s.running_flight_fraction) / s.mode_scale)),
            moving=bool(np.sqrt(np.trace(band.T @ band) / n) > s.gait_rms_ms2),
        )
        self._hop_band = np.empty((0, 3))
        self._hop_jerk = np.empty((0, 3))
        self._hop_low = np.empty((0, 3))
        self._hop_acc = np.empty((0, 3))
        self._hops.append(hop)
        self._up_sum = self._up_sum + hop.acc_sum
        self._gait_n += hop.n if hop.moving else 0
        self._check_slip()
        self._commit()

    def _estimate(self, hops: list[_Hop], up: FloatArray | None = None) -> tuple[FloatArray, float]:
        """The frame (rows ap, v, ml) and its confidence from a list of hop sums; ``up`` when it is fixed."""
        s = self.settings
        if not hops:
            return np.eye(3), 0.0
        if up is None:
            acc_sum = np.sum([h.acc_sum for h in hops], axis=0)
            norm = float(np.linalg.norm(acc_sum))
            up = acc_sum / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
        horizontal = np.eye(3) - np.outer(up, up)
        signed = np.sum([-h.mode_weight * h.cross for h in hops], axis=0)
        weights = np.array([abs(h.mode_weight) for h in hops])
        band = np.sum([w * h.band_cov for w, h in zip(weights, hops, strict=True)], axis=0)
        jerk = np.sum([w * h.jerk_cov for w, h in zip(weights, hops, strict=True)], axis=0)
        c = horizontal @ signed @ up
        norm = float(
            np.sqrt(max(np.trace(horizontal @ band @ horizontal), 0.0) * max(float(up @ jerk @ up), 0.0))
        )
        moving = [h for h in hops if h.moving]
        if norm <= 0 or not moving or np.linalg.norm(c) == 0:
            return _rotation_from(self._placeholder_forward(up), up), 0.0
        r = float(np.linalg.norm(c)) / norm
        energy = np.array([np.trace(h.band_cov) for h in moving])
        certainty = float(np.sum(energy * [abs(h.mode_weight) for h in moving]) / np.sum(energy))
        gait_s = sum(h.n for h in moving) / self.rate_hz
        conf = certainty * min(1.0, r / s.full_correlation) * min(1.0, gait_s / s.full_gait_s)
        return _rotation_from(c, up), float(np.clip(conf, 0.0, 1.0))

    def _placeholder_forward(self, up: FloatArray) -> FloatArray:
        """Before any gait: the current forward if there is one, else the most horizontal sensor axis."""
        if self._rotation is not None:
            return self._rotation[0]
        return np.eye(3)[int(np.argmin(np.abs(up)))]

    def _commit(self) -> None:
        """Re-estimate; fix up once enough gait is seen; take a new frame only beyond the hysteresis and
        only on enough evidence for the forward axis."""
        if self.mounting is not None:
            return
        s = self.settings
        assert self._rotation is not None
        hops = list(self._hops)
        if not self.up_fixed_ and self._gait_n >= s.up_fix_gait_s * self.rate_hz:
            self.up_fixed_ = True
            up = self._up_sum / np.linalg.norm(self._up_sum)
            candidate, conf = self._estimate(hops, up)
            if conf < s.min_commit_confidence and conf < self.confidence_:
                candidate = _rotation_from(self._rotation[0], up)
            else:
                self.confidence_ = conf
            self._rotation = candidate  # always: the fixed up is exactly the one in use from now on
            return
        candidate, conf = self._estimate(hops, self._rotation[1] if self.up_fixed_ else None)
        if conf >= s.min_commit_confidence or conf >= self.confidence_:
            if rotation_angle_deg(candidate, self._rotation) > s.hysteresis_deg:
                self._rotation = candidate
            self.confidence_ = conf
        elif _angle_deg(candidate[1], self._rotation[1]) > s.hysteresis_deg:
            # too little evidence for the forward axis: keep it, follow gravity only (up not yet fixed)
            self._rotation = _rotation_from(self._rotation[0], candidate[1])

    def _check_slip(self) -> None:
        s = self.settings
        hops = list(self._hops)
        reference = self.mounting.rotation if self.mounting is not None else self._rotation
        if reference is None or len(hops) < self._slip_hops + 1:
            return
        recent = hops[-self._slip_hops :]
        u = np.sum([h.acc_sum for h in recent], axis=0)
        if np.linalg.norm(u) == 0:
            return
        angle = _angle_deg(u / np.linalg.norm(u), reference[1])
        if angle <= s.slip_angle_deg:
            self._slip_count, self._slip_onset = 0, None
            return
        if self._slip_onset is None:
            self._slip_onset = recent[0]
        self._slip_count += 1
        if self._slip_count < self._hold_hops:
            return
        onset = self._slip_onset
        realign = self.mounting is None
        self.events_.append(FrameEvent(onset.start_index, onset.t_start_s, angle, realign))
        self._slip_count, self._slip_onset = 0, None
        if realign:
            kept = [h for h in hops if h.index >= onset.index]
            self._hops.clear()
            self._hops.extend(kept)
            self._up_sum = np.sum([h.acc_sum for h in kept], axis=0)
            self._gait_n = sum(h.n for h in kept if h.moving)
            self.up_fixed_ = False
            self._rotation, self.confidence_ = self._estimate(kept)

    def _rotate(self, block: SampleBlock, i: int, j: int) -> BodyBlock:
        """Samples ``[i, j)`` of ``block`` in the frame in use (recorded in ``segments_``)."""
        rotation = self._rotation if self.mounting is None else self.mounting.rotation
        assert rotation is not None
        conf = 1.0 if self.mounting is not None else self.confidence_
        start = block.start_index + i
        if not self.segments_ or not (
            np.array_equal(self.segments_[-1].rotation, rotation) and self.segments_[-1].confidence == conf
        ):
            self.segments_.append(FrameSegment(start, rotation, conf))
        gyr = None if block.gyr is None else _apply(rotation, block.gyr[i:j])
        return BodyBlock(block.t_s[i:j], _apply(rotation, block.acc[i:j]), gyr, start)
