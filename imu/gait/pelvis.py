"""Pelvic tilt, obliquity and rotation through every stride, and their stride-to-stride variability.

Angles (degrees, ISB pelvis frame, see :mod:`imu.constants`)
=============================================================
The pelvis orientation is decomposed as ``R = R_v(rotation) · R_ap(obliquity) · R_ml(-tilt)`` (body to
world; the same sequence the simulated runner uses):

- ``tilt`` — sagittal, **positive anterior** (the front of the pelvis down);
- ``obliquity`` — frontal, **positive when the right side is lower** (right-hand rule about ``ap``);
- ``rotation`` — transverse, **positive to the left** (counter-clockwise from above, right-hand rule
  about ``v``).

Tilt and obliquity are measured against gravity by :class:`imu.gait.attitude.AttitudeFilter` (gyroscope
integration, levelled by the world-frame acceleration averaged over several strides; see that module for
why a per-sample accelerometer correction is wrong during running and why impacts cannot corrupt the
angle). Rotation has no gravity reference: it is the gyroscope's heading, taken relative to the stride's
first sample (wrapped to ±180°, which no stride turns) and detrended by the straight line through its
values at the stride's first and last initial contact (this removes the running heading, turns and the
drift of the unobservable vertical-axis gyroscope bias, and keeps the periodic shape), then centred on its
stride mean. Its mean is therefore zero by definition and only its range of
motion is reported. The chord also removes the change of the rotation amplitude from one stride to the
next, so the ROM reads 0.1–0.2° below a plain max − min over the stride (simulated runner).

Reference (zero) of tilt and obliquity
======================================
The angles are those of a fixed *reference* body frame. With a stated mounting (or body blocks given
without a frame source) that is the stated frame: the angles are absolute. With the mounting found by
:class:`imu.gait.frame.BodyFrameStage`, "up" is the mean gravity direction when the frame was found, so
tilt and obliquity are relative to the posture of that moment (standing, or the first seconds of running)
and only their changes are meaningful. The frame stage keeps re-estimating its frame over a trailing
window and re-commits it whenever it moved more than its hysteresis, so a slow drift of the mean tilt
(what fatigue analysis looks for) would be absorbed step by step in its body-frame output. This stage
therefore undoes every frame re-commit (body → sensor with the rotation in effect for each sample) and
expresses the angles against **one fixed up**: that of the first frame segment whose confidence reaches
``reference_confidence``. Only the forward axis follows the frame stage (its latest estimate at the
stride's end, made perpendicular to the fixed up): a turn about the fixed up cannot absorb tilt drift, and
the forward estimate improves as gait accumulates (on the simulated runner this cut the tilt ROM error
from a cross-talk with obliquity by a factor of six).

A slip event (the sensor moved on the body) starts a new reference epoch
(``frame_epoch`` + 1) at the first re-aligned segment; strides that straddle the re-alignment are not
settled. (Strides between the slip's onset and its confirmation, the frame stage's hold time, were already
final with the old reference: rows are never retracted.)

Strides
=======
Every initial contact ``k`` (from the contact stage) closes the stride ``k - 2 → k`` (two consecutive
steps; strides overlap by a step), as long as both steps are chained (their ``step_time_s`` is finite, i.e.
no missed contact or pause between them). Sides are not waited for (they are committed seconds later):
``parity`` is the contact count since the chain began modulo 2, so all strides of one parity start on the
same foot, and a row joins with the side table through ``start_index``. Per stride: the mean and range
(max − min) of tilt and obliquity over the samples ``[start_index, end_index)``, the range of rotation.

Variability: over the last ``window_strides`` settled strides of the same parity (non-overlapping strides,
about ``1.4 × window_strides`` seconds) the standard deviation (``ddof = 1``) of the per-stride tilt mean
and tilt ROM, and the coefficients of variation ``100 · SD / |mean|`` of the ROM and — only when the tilt is
absolute (a stated mounting) — of the tilt mean (relative to an arbitrary reference the CV of a mean means
nothing). NaN until the window is full; the window restarts with a new reference epoch.

``settled`` is False for strides whose angles are not yet trustworthy: before the attitude has levelled
(a standing start levels it at once; otherwise ``settle_s`` after the stream's start), before the frame
reached ``reference_confidence``, across a re-alignment after a slip, across a lost-packet gap (a piece of
the stride is missing), or when a sample of the stride lies where the attitude could not measure a gap's
error (another gap within ``anchor_s``; see :mod:`imu.gait.attitude`). Strides after a gap whose error the
attitude measured (once ``anchor_s`` of post-gap data levelled it again) are corrected by that measurement
and settled; until then they are held back. The per-minute figures (:mod:`imu.aggregates`) use settled
strides only. On the simulated runner (worst of the report seeds, 30 min) that leaves out 7 % of the
strides at 1 % loss in bursts, 26 % at 3 % (30 % and 62 % when every stride until the re-anchoring was left
out).

Streaming
=========
``update(block, contacts)`` takes the next body block and the contact rows the contact stage emitted for
it; a stride row is emitted in the same call as the contact that closes it, so its delay is the contact
stage's look-ahead (the attitude's own one-hop delay, 0.25 s, is shorter), except after a lost-packet gap:
strides reaching past the gap wait until the attitude measured its error (``anchor_s`` and a hop after the
gap while running; rows stay in order, so later strides wait with them). The stage is causal otherwise;
results are bit-identical for any chunking.

Speed: per-sample work is vectorised (the attitude over batches of hops, the angles over all strides an
update closes, each stride's figures by ``reduceat`` over its samples), frame re-commits are looked up by
bisection, and references are cached per frame rotation; a long block is worked through in cache-sized
pieces (:data:`PIECE`). The rest is per hop (the attitude's loop) and per stride (its contacts).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from imu.errors import InputError
from imu.gait.attitude import AttitudeFilter, AttitudeSettings, quat_product
from imu.gait.body_block import BodyBlock
from imu.gait.column_table import ColumnTable
from imu.gait.contact_table import ContactTable
from imu.samples import FloatArray

PIECE = 8192
"""Samples (and :data:`STRIDE_BATCH` strides) computed together: the arrays stay in cache; results do not
depend on it."""
STRIDE_BATCH = 256
DEG_PER_RAD = 180.0 / np.pi
Reference = tuple[FloatArray, int, bool]
"""A stride's reference frame: (rotation, epoch number, trusted)."""


# ---------------------------------------------------------------------------------------------- the table
@dataclass(frozen=True, eq=False)
class PelvisStrideTable(ColumnTable):
    """One row per stride, in time order; see the module docstring for every figure (degrees, percent)."""

    DTYPES: ClassVar[dict[str, Any]] = {
        "start_index": np.int64,
        "end_index": np.int64,
        "t_start_s": np.float64,
        "t_end_s": np.float64,
        "parity": np.int64,
        "frame_epoch": np.int64,
        "settled": np.bool_,
        "tilt_mean_deg": np.float64,
        "tilt_rom_deg": np.float64,
        "obliquity_mean_deg": np.float64,
        "obliquity_rom_deg": np.float64,
        "rotation_rom_deg": np.float64,
        "tilt_mean_sd_deg": np.float64,
        "tilt_mean_cv_pct": np.float64,
        "tilt_rom_sd_deg": np.float64,
        "tilt_rom_cv_pct": np.float64,
    }

    start_index: NDArray[np.int64]
    end_index: NDArray[np.int64]
    t_start_s: NDArray[np.float64]
    t_end_s: NDArray[np.float64]
    parity: NDArray[np.int64]
    frame_epoch: NDArray[np.int64]
    settled: NDArray[np.bool_]
    tilt_mean_deg: NDArray[np.float64]
    tilt_rom_deg: NDArray[np.float64]
    obliquity_mean_deg: NDArray[np.float64]
    obliquity_rom_deg: NDArray[np.float64]
    rotation_rom_deg: NDArray[np.float64]
    tilt_mean_sd_deg: NDArray[np.float64]
    tilt_mean_cv_pct: NDArray[np.float64]
    tilt_rom_sd_deg: NDArray[np.float64]
    tilt_rom_cv_pct: NDArray[np.float64]


# ---------------------------------------------------------------------------------------------- frame source
class FrameSegmentLike(Protocol):
    """From ``start_index`` on, body = ``rotation`` @ sensor (rows ap, v, ml), found with ``confidence``."""

    @property
    def start_index(self) -> int: ...
    @property
    def rotation(self) -> FloatArray: ...
    @property
    def confidence(self) -> float: ...


class FrameEventLike(Protocol):
    """The sensor moved on the body near ``index``; ``realigned`` when the frame was found again."""

    @property
    def index(self) -> int: ...
    @property
    def realigned(self) -> bool: ...


class FrameSource(Protocol):
    """What this stage reads from the body-frame stage (:class:`imu.gait.frame.BodyFrameStage`)."""

    @property
    def segments_(self) -> Sequence[FrameSegmentLike]: ...
    @property
    def events_(self) -> Sequence[FrameEventLike]: ...
    @property
    def mounting(self) -> object | None: ...


@dataclass
class _Epoch:
    """A span with one reference frame: from ``start`` (absolute index) on, after a slip at ``onset``."""

    start: int
    onset: int
    reference: FloatArray | None = None
    reference_start: int = 0


# ---------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class PelvisSettings:
    """See the module docstring; times in s, confidence 0–1."""

    attitude: AttitudeSettings = field(default_factory=AttitudeSettings)
    window_strides: int = 20
    reference_confidence: float = 0.5
    settle_s: float = 60.0
    history_s: float = 6.0
    """Samples kept for strides still open; contacts must reach the stage within this of their IC."""


def apply_rotation(rotation: FloatArray, v: FloatArray) -> FloatArray:
    """``rotation @ v`` for each row of ``v`` (N, 3), element by element (same result for any N)."""
    out = np.empty_like(v)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    for row, (a, b, c) in enumerate(rotation.tolist()):
        out[:, row] = x * a + y * b + z * c
    return out


def level_frame(up: FloatArray, forward: FloatArray) -> FloatArray:
    """Rows ap, v, ml of the frame with this ``up`` whose ``ap`` is ``forward`` made perpendicular to it."""
    ap = forward - up * float(forward @ up)
    ap = ap / np.linalg.norm(ap)
    return np.vstack([ap, up, np.cross(ap, up)])


def rotation_rows(quats: FloatArray) -> tuple[FloatArray, ...]:
    """Entries ``r00 r01 … r22`` (9 arrays of N) of the rotation matrices (sensor → world) of unit
    quaternions."""
    w, x, y, z = quats[:, 0], quats[:, 1], quats[:, 2], quats[:, 3]
    x2, y2, z2 = x + x, y + y, z + z
    xx, yy, zz, xy, xz, yz, wx, wy, wz = (
        x * x2,
        y * y2,
        z * z2,
        x * y2,
        x * z2,
        y * z2,
        w * x2,
        w * y2,
        w * z2,
    )
    return (
        1.0 - (yy + zz),
        xy - wz,
        xz + wy,
        xy + wz,
        1.0 - (xx + zz),
        yz - wx,
        xz - wy,
        yz + wx,
        1.0 - (xx + yy),
    )


def body_angles(
    rows: Sequence[FloatArray], reference: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Tilt and obliquity (deg) and heading (rad, in (-π, π]) of the body ``reference @ sensor``.

    ``rows``: :func:`rotation_rows` of the sensor's attitude. World up in body axes gives tilt and obliquity:
    ``up_body = reference @ Rᵀ up = (-cos ω sin θ, cos ω cos θ, -sin ω)``; the world direction of the
    body's ``ml`` axis gives the heading ``ψ = atan2(ml_w[ap], ml_w[ml])``.
    """
    (a0, a1, a2), (v0, v1, v2), (m0, m1, m2) = reference.tolist()
    r00, r01, r02, u0, u1, u2, r20, r21, r22 = rows
    tilt = np.arctan2(-(a0 * u0 + a1 * u1 + a2 * u2), v0 * u0 + v1 * u1 + v2 * u2) * DEG_PER_RAD
    obliquity = np.arcsin(np.clip(-(m0 * u0 + m1 * u1 + m2 * u2), -1.0, 1.0)) * DEG_PER_RAD
    heading = np.arctan2(r00 * m0 + r01 * m1 + r02 * m2, r20 * m0 + r21 * m1 + r22 * m2)
    return tilt, obliquity, heading


def pelvis_angles_deg(quats: FloatArray, reference: FloatArray) -> FloatArray:
    """(N, 3) tilt, obliquity and heading (deg, heading unwrapped) of the body ``reference @ sensor``.

    ``quats`` (N, 4) turn sensor vectors into the world frame; see :func:`body_angles`.
    """
    tilt, obliquity, heading = body_angles(rotation_rows(quats), reference)
    return np.column_stack((tilt, obliquity, np.degrees(np.unwrap(heading))))


# ---------------------------------------------------------------------------------------------- the stage
class PelvisStage:
    """Body blocks (with gyroscope) and contact rows in, :class:`PelvisStrideTable` rows out.

    ``frame``: the body-frame stage that produced the blocks, so its re-commits can be undone (see the
    module docstring); ``None`` when the blocks are in a fixed, stated frame.
    """

    def __init__(
        self, rate_hz: float, settings: PelvisSettings | None = None, frame: FrameSource | None = None
    ) -> None:
        self.settings = s = settings or PelvisSettings()
        if s.window_strides < 2:
            raise InputError(
                "the variability window is too short", expected="≥ 2 strides", found=str(s.window_strides)
            )
        self.rate_hz = float(rate_hz)
        self.frame = frame
        self.absolute = frame is None or frame.mounting is not None
        self._attitude = AttitudeFilter(rate_hz, s.attitude)
        self._history = max(1, round(s.history_s * rate_hz))
        self._settle = round(s.settle_s * rate_hz)
        # samples: times of the input not yet trimmed, quaternions of those processed
        self._start: int | None = None
        self._received = 0
        self._t = np.empty(0)
        self._q = np.empty((0, 4))
        self._levelled_at: int | None = None
        self._uncertain: deque[tuple[int, int]] = deque()  # the attitude's uncorrected spans still needed
        self._gaps: deque[int] = deque()  # first samples after gaps still needed
        self._spans_seen = self._gaps_seen = 0
        # frame bookkeeping: segments, and runs of segments with one rotation (confidence changes more often)
        self._segments_seen = 0
        self._seg_starts: list[int] = []
        self._seg_run: list[int] = []
        self._run_starts: list[int] = []
        self._run_rotations: list[FloatArray] = []
        self._last_rotation: object = None  # the frame stage's rotation object of the last segment
        self._levelled: dict[tuple[int, int], FloatArray] = {}  # (epoch, run) → reference
        self._events_seen = 0
        self._pending_onsets: deque[int] = deque()
        self._epochs: list[_Epoch] = []
        # contacts and strides
        self._ics: deque[tuple[int, int]] = deque(maxlen=3)  # (ic_index, count since the chain began)
        self._open: deque[tuple[int, int, int]] = deque()  # (start, end, parity) waiting for samples
        self._windows: dict[int, FloatArray] = {0: np.empty((0, 2)), 1: np.empty((0, 2))}
        self._window_epoch = 0

    @property
    def look_ahead_s(self) -> float:
        """The attitude's hop; a stride row additionally waits for the contact that closes it."""
        return self._attitude.look_ahead_s

    def update(self, block: BodyBlock, contacts: ContactTable | None = None) -> PelvisStrideTable:
        self._push(block)
        self._read_frame()
        first, pieces = None, []
        for i in range(0, len(block), PIECE):  # cache-sized pieces (a whole recording may come as one block)
            piece = block.slice(i, i + PIECE)
            start, quats = self._attitude.update(*self._sensor_frame(piece), piece.start_index)
            first = start if first is None else first
            pieces.append(quats)
        if first is not None:
            self._append_quats(first, np.concatenate(pieces))
        self._take_gaps()
        self._add_contacts(contacts if contacts is not None else ContactTable.empty())
        return self._close_strides(self._attitude.open_gap_)

    def flush(self) -> PelvisStrideTable:
        self._read_frame()
        self._append_quats(*self._attitude.flush())
        self._take_gaps()
        return self._close_strides(None)

    # ------------------------------------------------------------------ input
    def _push(self, block: BodyBlock) -> None:
        if len(block) == 0:
            return
        if block.gyr is None:
            raise InputError(
                "pelvis angles need a gyroscope", expected="a body block with gyr", found="acceleration only"
            )
        if self._start is None:
            self._start = block.start_index
            self._levelled_at = block.start_index + self._settle
        elif block.start_index != self._start + self._received:
            raise InputError(
                "blocks must be contiguous",
                expected=f"start_index {self._start + self._received}",
                found=f"start_index {block.start_index}",
            )
        self._received += len(block)
        self._t = np.concatenate([self._t, block.t_s])

    def _sensor_frame(self, block: BodyBlock) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Undo the frame stage's rotation sample by sample: sensor = rotationᵀ @ body."""
        gyr = block.gyr if block.gyr is not None else np.empty((0, 3))
        if self.frame is None or len(block) == 0:
            return block.t_s, block.acc, gyr
        first = bisect_right(self._run_starts, block.start_index) - 1
        if first < 0:
            raise InputError(
                "a body block without its frame",
                expected="the frame stage's segments",
                found=f"none covering sample {block.start_index}",
            )
        last = bisect_right(self._run_starts, block.stop_index - 1) - 1
        if first == last:
            inverse = self._run_rotations[first].T
            return block.t_s, apply_rotation(inverse, block.acc), apply_rotation(inverse, gyr)
        acc, out_gyr = np.empty_like(block.acc), np.empty_like(gyr)
        for k in range(first, last + 1):
            i = max(0, self._run_starts[k] - block.start_index)
            j = len(block) if k == last else self._run_starts[k + 1] - block.start_index
            inverse = self._run_rotations[k].T
            acc[i:j] = apply_rotation(inverse, block.acc[i:j])
            out_gyr[i:j] = apply_rotation(inverse, gyr[i:j])
        return block.t_s, acc, out_gyr

    def _read_frame(self) -> None:
        """Take new segments and slip events from the frame stage; open epochs, fix references."""
        if self.frame is None:
            if not self._epochs:
                self._epochs.append(_Epoch(0, 0, np.eye(3), 0))
            return
        for event in self.frame.events_[self._events_seen :]:
            if event.realigned:
                self._pending_onsets.append(event.index)
        self._events_seen = len(self.frame.events_)
        for seg in self.frame.segments_[self._segments_seen :]:
            moved = False
            if seg.rotation is not self._last_rotation:
                rotation = np.asarray(seg.rotation, dtype=np.float64)
                moved = bool(self._run_rotations) and not np.array_equal(rotation, self._run_rotations[-1])
                if moved or not self._run_rotations:
                    self._run_starts.append(seg.start_index)
                    self._run_rotations.append(rotation)
                self._last_rotation = seg.rotation
            if not self._epochs:
                self._epochs.append(_Epoch(seg.start_index, seg.start_index))
            elif self._pending_onsets and seg.start_index >= self._pending_onsets[0] and moved:
                self._epochs.append(_Epoch(seg.start_index, self._pending_onsets.popleft()))
            epoch = self._epochs[-1]
            if epoch.reference is None and seg.confidence >= self.settings.reference_confidence:
                epoch.reference, epoch.reference_start = self._run_rotations[-1], seg.start_index
            self._seg_starts.append(seg.start_index)
            self._seg_run.append(len(self._run_rotations) - 1)
        self._segments_seen = len(self.frame.segments_)

    def _append_quats(self, start: int, quats: FloatArray) -> None:
        if quats.shape[0] == 0:
            return
        q_start = self._q_start()
        if start != q_start + self._q.shape[0]:  # pragma: no cover - the filter emits contiguously
            raise AssertionError("attitude output out of order")
        self._q = np.concatenate([self._q, quats]) if self._q.shape[0] else quats
        if self._levelled_at is not None and self._attitude.levelled_index_ is not None:
            self._levelled_at = min(self._levelled_at, self._attitude.levelled_index_)

    def _take_gaps(self) -> None:
        """New gaps and spans after gaps from the attitude: correct the held quaternions of measured spans
        (their strides were held back, see :meth:`_close_strides`), remember the others."""
        self._gaps.extend(self._attitude.gaps_[self._gaps_seen :])
        self._gaps_seen = len(self._attitude.gaps_)
        q_start = self._q_start()
        for first, stop, correction in self._attitude.gap_spans_[self._spans_seen :]:
            if correction is None:
                if self._uncertain and self._uncertain[-1][1] == first:  # one span while the attitude waits
                    first = self._uncertain.pop()[0]
                self._uncertain.append((first, stop))
                continue
            rows = self._q[max(first - q_start, 0) : stop - q_start]
            c = tuple(np.full(1, v) for v in correction)
            w, x, y, z = quat_product(
                (c[0], c[1], c[2], c[3]), (rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])
            )
            rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] = w, x, y, z
        self._spans_seen = len(self._attitude.gap_spans_)

    def _q_start(self) -> int:
        """Absolute index of the first kept sample (times and quaternions start together)."""
        return (self._start or 0) + self._received - self._t.shape[0]

    def _add_contacts(self, contacts: ContactTable) -> None:
        low, high = self._q_start(), (self._start or 0) + self._received
        for ic, step_s in zip(contacts.ic_index.tolist(), contacts.step_time_s.tolist(), strict=True):
            if ic < low or ic >= high:
                raise InputError(
                    "an initial contact outside the samples held",
                    expected=f"index in [{low}, {high})",
                    found=str(ic),
                )
            if self._ics and ic <= self._ics[-1][0]:
                raise InputError(
                    "initial contacts must increase", expected=f"after {self._ics[-1][0]}", found=str(ic)
                )
            count = self._ics[-1][1] + 1 if self._ics and math.isfinite(step_s) else 0
            self._ics.append((ic, count))
            if count >= 2:
                first = self._ics[0]
                self._open.append((first[0], ic, first[1] % 2))

    # ------------------------------------------------------------------ strides
    def _close_strides(self, pending: int | None) -> PelvisStrideTable:
        """Rows of the open strides whose samples are all held, except those reaching ``pending``, the
        first sample of a span after a gap whose correction the attitude has not measured yet: they wait
        for it (at most ``anchor_s`` and a hop while the runner keeps running)."""
        q_end = self._q_start() + self._q.shape[0]
        if pending is not None:
            q_end = min(q_end, pending)
        closing = []
        while self._open and self._open[0][1] < q_end:
            closing.append(self._open.popleft())
        tables = [self._strides(closing[i : i + STRIDE_BATCH]) for i in range(0, len(closing), STRIDE_BATCH)]
        self._trim()
        return tables[0] if len(tables) == 1 else PelvisStrideTable.concat(tables)

    def _trim(self) -> None:
        keep = (self._start or 0) + self._received - self._history
        if self._open:
            keep = min(keep, self._open[0][0])
        if len(self._ics) >= 2:
            keep = min(keep, self._ics[-2][0])
        drop = min(max(0, keep - self._q_start()), self._q.shape[0])
        while self._uncertain and self._uncertain[0][1] <= self._q_start() + drop:
            self._uncertain.popleft()
        while self._gaps and self._gaps[0] <= self._q_start() + drop:
            self._gaps.popleft()
        self._t, self._q = self._t[drop:], self._q[drop:]

    def _near_gap(self, start: NDArray[np.int64], end: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Strides with samples on both sides of a gap (a piece of the stride is missing), or with a sample
        whose attitude after a gap could not be corrected (or not yet, at the end of the stream)."""
        gaps = np.array(self._gaps, dtype=np.int64)
        out = np.searchsorted(gaps, end, side="right") > np.searchsorted(gaps, start, side="right")
        pending = self._attitude.open_gap_
        bounds = [*self._uncertain, *([] if pending is None else [(pending, np.iinfo(np.int64).max)])]
        for first, stop in bounds:
            out |= (end >= first) & (start < stop)
        return out

    def _reference(self, end: int) -> Reference:
        """The reference frame for a stride ending at ``end``: (rotation, epoch number, trusted).

        The same array object is returned for strides with the same reference (they are grouped by it).
        """
        number = len(self._epochs) - 1
        while number > 0 and self._epochs[number].start > end:
            number -= 1
        epoch = self._epochs[number]
        if self.frame is None and epoch.reference is not None:
            return epoch.reference, number, True
        run = self._seg_run[max(bisect_right(self._seg_starts, end) - 1, 0)]
        if epoch.reference is not None and epoch.reference_start <= end:
            reference = self._levelled.get((number, run))
            if reference is None:
                reference = level_frame(epoch.reference[1], self._run_rotations[run][0])
                self._levelled[(number, run)] = reference
            return reference, number, True
        return self._run_rotations[run], number, False

    def _references(self, ends: list[int]) -> list[Reference]:
        """:meth:`_reference` of each of the (increasing) ``ends``, looked up only where it can change.

        Epoch, frame run and trust never go back as the end grows, so two ends with the same reference have
        it for every end between them: bisection needs a look-up per change, not per stride.
        """
        out = [self._reference(ends[0])] * len(ends)

        def fill(i: int, j: int, first: Reference, last: Reference) -> None:
            if first[0] is last[0] and first[1:] == last[1:]:
                out[i : j + 1] = [first] * (j + 1 - i)
            elif j - i <= 1:
                out[i], out[j] = first, last
            else:
                middle = (i + j) // 2
                between = self._reference(ends[middle])
                fill(i, middle, first, between)
                fill(middle, j, between, last)

        fill(0, len(ends) - 1, out[0], self._reference(ends[-1]))
        return out

    def _strides(self, closing: list[tuple[int, int, int]]) -> PelvisStrideTable:
        """The rows of the strides ``(start, end, parity)`` (in order), all their samples held."""
        base = self._q_start()
        start, end, parity = (np.array(column, dtype=np.int64) for column in zip(*closing, strict=True))
        references = self._references(end.tolist())
        epoch = np.array([r[1] for r in references], dtype=np.int64)
        epoch_start = np.array([self._epochs[r[1]].start for r in references], dtype=np.int64)
        trusted = np.array([r[2] for r in references])
        levelled = start >= self._levelled_at if self._levelled_at is not None else True
        settled = trusted & (start >= epoch_start) & levelled & ~self._near_gap(start, end)
        lo, hi = int(start[0]) - base, int(end[-1]) - base + 1
        rows, t = rotation_rows(self._q[lo:hi]), self._t[lo:hi]
        stats = np.empty((len(closing), len(STRIDE_STATS)))
        first = 0
        for k in range(1, len(closing) + 1):  # runs of strides with one reference
            if k == len(closing) or references[k][0] is not references[first][0]:
                s0, s1 = int(start[first]) - base - lo, int(end[k - 1]) - base - lo + 1
                stats[first:k] = _stride_stats(
                    body_angles([row[s0:s1] for row in rows], references[first][0]),
                    t[s0:s1],
                    start[first:k] - start[first],
                    end[first:k] - start[first],
                )
                first = k
        columns: dict[str, Any] = {
            "start_index": start,
            "end_index": end,
            "t_start_s": t[start - base - lo],
            "t_end_s": t[end - base - lo],
            "parity": parity,
            "frame_epoch": epoch,
            "settled": settled,
            **{name: stats[:, i] for i, name in enumerate(STRIDE_STATS)},
        }
        columns.update(self._variability(columns))
        return PelvisStrideTable(**columns)

    def _variability(self, rows: dict[str, Any]) -> dict[str, FloatArray]:
        """Rolling SD and CV of tilt mean and ROM over the last ``window_strides`` settled strides of the same
        parity (see the module docstring), for each row; windows carry over from call to call."""
        size = self.settings.window_strides
        count = rows["start_index"].shape[0]
        sd, cv = np.full((count, 2), np.nan), np.full((count, 2), np.nan)
        values = np.column_stack((rows["tilt_mean_deg"], rows["tilt_rom_deg"]))
        epochs, parities, settled = rows["frame_epoch"], rows["parity"], rows["settled"]
        for run in np.split(np.arange(count), np.flatnonzero(np.diff(epochs)) + 1):
            if int(epochs[run[0]]) != self._window_epoch:
                self._window_epoch = int(epochs[run[0]])
                self._windows = {0: np.empty((0, 2)), 1: np.empty((0, 2))}
            # both parities in one series: [window 0, new settled 0, window 1, new settled 1]
            odd, kept = parities[run] == 1, settled[run]
            before = (self._windows[0].shape[0], self._windows[1].shape[0])
            even_kept = np.cumsum(kept & ~odd)
            seen = np.where(odd, np.cumsum(kept) - even_kept, even_kept)  # own parity's settled so far
            split = before[0] + int(even_kept[-1])
            series = np.concatenate(
                [self._windows[0], values[run[kept & ~odd]], self._windows[1], values[run[kept & odd]]]
            )
            ends = np.where(odd, before[1], before[0]) + seen  # window length after each row
            full = ends >= size
            if full.any():
                last = np.where(odd, split, 0)[full] + ends[full]  # one past the row's window in the series
                latest = series[(last - size)[:, None] + np.arange(size)]  # (k, size, 2)
                mean = latest.sum(axis=1) / size
                deviation = latest - mean[:, None, :]
                sd[run[full]] = np.sqrt((deviation * deviation).sum(axis=1) / (size - 1))
                cv[run[full]] = 100.0 * sd[run[full]] / np.abs(mean)
            self._windows = {0: series[:split][-size:], 1: series[split:][-size:]}
        if not self.absolute:
            cv[:, 0] = np.nan
        return {
            "tilt_mean_sd_deg": sd[:, 0],
            "tilt_mean_cv_pct": cv[:, 0],
            "tilt_rom_sd_deg": sd[:, 1],
            "tilt_rom_cv_pct": cv[:, 1],
        }


STRIDE_STATS = (
    "tilt_mean_deg",
    "tilt_rom_deg",
    "obliquity_mean_deg",
    "obliquity_rom_deg",
    "rotation_rom_deg",
)


def _stride_stats(
    angles: tuple[FloatArray, FloatArray, FloatArray],
    t: FloatArray,
    start: NDArray[np.int64],
    end: NDArray[np.int64],
) -> FloatArray:
    """(strides, 5) :data:`STRIDE_STATS` of strides ``[start, end]`` (positions in ``angles`` and ``t``).

    Tilt and obliquity over ``[start, end)``. Rotation: the heading relative to the stride's first sample
    (wrapped to ±180°, so a stride must turn less than that), minus the chord to its value at ``end``.
    """
    tilt, obliquity, heading = angles
    bounds = np.column_stack((start, end)).ravel()
    samples = (end - start).astype(np.float64)
    out = np.empty((start.shape[0], 5))
    for i, angle in ((0, tilt), (2, obliquity)):
        out[:, i] = np.add.reduceat(angle, bounds)[::2] / samples
        out[:, i + 1] = np.maximum.reduceat(angle, bounds)[::2] - np.minimum.reduceat(angle, bounds)[::2]
    # the strides' samples one after another (strides overlap by a step)
    length = end - start + 1
    offset = np.cumsum(length) - length
    index = np.arange(int(length.sum())) - np.repeat(offset - start, length)
    turned = heading[index] - np.repeat(heading[start], length)
    turned -= 2.0 * np.pi * np.round(turned / (2.0 * np.pi))
    elapsed = t[index] - np.repeat(t[start], length)
    slope = turned[offset + length - 1] / (t[end] - t[start])
    rotation = turned - np.repeat(slope, length) * elapsed
    bounds = np.column_stack((offset, offset + length - 1)).ravel()
    out[:, 4] = np.degrees(
        np.maximum.reduceat(rotation, bounds)[::2] - np.minimum.reduceat(rotation, bounds)[::2]
    )
    return out
