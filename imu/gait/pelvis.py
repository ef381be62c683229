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
angle). Rotation has no gravity reference: it is the gyroscope's heading, detrended per stride by the
straight line through its values at the stride's first and last initial contact (this removes the running
heading, turns and the drift of the unobservable vertical-axis gyroscope bias, and keeps the periodic
shape), then centred on its stride mean. Its mean is therefore zero by definition and only its range of
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
reached ``reference_confidence``, or across a re-alignment after a slip.

Streaming
=========
``update(block, contacts)`` takes the next body block and the contact rows the contact stage emitted for
it; a stride row is emitted in the same call as the contact that closes it, so its delay is the contact
stage's look-ahead (the attitude's own one-hop delay, 0.25 s, is shorter). The stage is causal otherwise;
results are bit-identical for any chunking.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from imu.errors import InputError
from imu.gait.attitude import UP, AttitudeFilter, AttitudeSettings, quat_rotate
from imu.gait.body_block import BodyBlock
from imu.gait.contact_table import ContactTable
from imu.samples import FloatArray

CONJUGATE = np.array([1.0, -1.0, -1.0, -1.0])
INT_COLUMNS = ("start_index", "end_index", "parity", "frame_epoch")


# ---------------------------------------------------------------------------------------------- the table
@dataclass(frozen=True, eq=False)
class PelvisStrideTable:
    """One row per stride, in time order; see the module docstring for every figure (degrees, percent)."""

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

    def __post_init__(self) -> None:
        n = None
        for f in fields(self):
            dtype: Any = np.int64 if f.name in INT_COLUMNS else bool if f.name == "settled" else np.float64
            col = np.ascontiguousarray(getattr(self, f.name), dtype=dtype)
            if col.ndim != 1 or (n is not None and col.shape[0] != n):
                raise InputError(
                    f"stride column {f.name} has the wrong shape", expected=f"({n},)", found=str(col.shape)
                )
            n = col.shape[0]
            object.__setattr__(self, f.name, col)

    @classmethod
    def empty(cls) -> PelvisStrideTable:
        columns: dict[str, Any] = {f.name: np.empty(0) for f in fields(cls)}
        return cls(**columns)

    @classmethod
    def concat(cls, tables: Sequence[PelvisStrideTable]) -> PelvisStrideTable:
        """Join tables emitted one after another (the ``join`` for :func:`imu.gait.stage.run_stream`)."""
        if not tables:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(t, f.name) for t in tables]) for f in fields(cls)})

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, float]]) -> PelvisStrideTable:
        if not rows:
            return cls.empty()
        return cls(**{f.name: np.array([r[f.name] for r in rows]) for f in fields(cls)})

    def __len__(self) -> int:
        return int(self.start_index.shape[0])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self)})

    def equals(self, other: PelvisStrideTable) -> bool:
        """Bit-identical columns (NaN equal to NaN): the streaming == batch contract."""
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=f.name not in INT_COLUMNS)
            and getattr(self, f.name).dtype == getattr(other, f.name).dtype
            for f in fields(self)
        )


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
    out: FloatArray = v[:, 0:1] * rotation[:, 0] + v[:, 1:2] * rotation[:, 1] + v[:, 2:3] * rotation[:, 2]
    return out


def level_frame(up: FloatArray, forward: FloatArray) -> FloatArray:
    """Rows ap, v, ml of the frame with this ``up`` whose ``ap`` is ``forward`` made perpendicular to it."""
    ap = forward - up * float(forward @ up)
    ap = ap / np.linalg.norm(ap)
    return np.vstack([ap, up, np.cross(ap, up)])


def pelvis_angles_deg(quats: FloatArray, reference: FloatArray) -> FloatArray:
    """(N, 3) tilt, obliquity and heading (deg, heading unwrapped) of the body ``reference @ sensor``.

    ``quats`` turn sensor vectors into the world frame. World up in body axes gives tilt and obliquity:
    ``up_body = (-cos ω sin θ, cos ω cos θ, -sin ω)``; the world direction of the body's ``ml`` axis gives
    the heading ``ψ = atan2(ml_w[ap], ml_w[ml])``.
    """
    up_body = apply_rotation(
        reference, quat_rotate(quats * CONJUGATE, np.broadcast_to(UP, (quats.shape[0], 3)))
    )
    ml_world = quat_rotate(quats, np.broadcast_to(reference[2], (quats.shape[0], 3)))
    tilt = np.degrees(np.arctan2(-up_body[:, 0], up_body[:, 1]))
    obliquity = np.degrees(np.arcsin(np.clip(-up_body[:, 2], -1.0, 1.0)))
    heading = np.degrees(np.unwrap(np.arctan2(ml_world[:, 0], ml_world[:, 2])))
    return np.column_stack((tilt, obliquity, heading))


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
        # frame bookkeeping
        self._segments_seen = 0
        self._seg_starts: list[int] = []
        self._seg_rotations: list[FloatArray] = []
        self._events_seen = 0
        self._pending_onsets: deque[int] = deque()
        self._epochs: list[_Epoch] = []
        # contacts and strides
        self._ics: deque[tuple[int, int]] = deque(maxlen=3)  # (ic_index, count since the chain began)
        self._open: deque[tuple[int, int, int]] = deque()  # (start, end, parity) waiting for samples
        self._windows: dict[int, deque[tuple[float, float]]] = {0: deque(), 1: deque()}
        self._window_epoch = 0

    @property
    def look_ahead_s(self) -> float:
        """The attitude's hop; a stride row additionally waits for the contact that closes it."""
        return self._attitude.look_ahead_s

    def update(self, block: BodyBlock, contacts: ContactTable | None = None) -> PelvisStrideTable:
        self._push(block)
        self._read_frame()
        start, quats = self._attitude.update(*self._sensor_frame(block), block.start_index)
        self._append_quats(start, quats)
        self._add_contacts(contacts if contacts is not None else ContactTable.empty())
        return self._close_strides()

    def flush(self) -> PelvisStrideTable:
        self._read_frame()
        self._append_quats(*self._attitude.flush())
        return self._close_strides()

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
        if not self._seg_starts or self._seg_starts[0] > block.start_index:
            raise InputError(
                "a body block without its frame",
                expected="the frame stage's segments",
                found=f"none covering sample {block.start_index}",
            )
        idx = np.arange(block.start_index, block.stop_index)
        which = np.searchsorted(np.asarray(self._seg_starts), idx, side="right") - 1
        acc, out_gyr = np.empty_like(block.acc), np.empty_like(gyr)
        for k in np.unique(which).tolist():
            rows = which == k
            inverse = self._seg_rotations[k].T
            acc[rows] = apply_rotation(inverse, block.acc[rows])
            out_gyr[rows] = apply_rotation(inverse, gyr[rows])
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
            rotation = np.asarray(seg.rotation, dtype=np.float64)
            moved = bool(self._seg_rotations) and not np.array_equal(rotation, self._seg_rotations[-1])
            if not self._epochs:
                self._epochs.append(_Epoch(seg.start_index, seg.start_index))
            elif self._pending_onsets and seg.start_index >= self._pending_onsets[0] and moved:
                self._epochs.append(_Epoch(seg.start_index, self._pending_onsets.popleft()))
            epoch = self._epochs[-1]
            if epoch.reference is None and seg.confidence >= self.settings.reference_confidence:
                epoch.reference, epoch.reference_start = rotation, seg.start_index
            self._seg_starts.append(seg.start_index)
            self._seg_rotations.append(rotation)
        self._segments_seen = len(self.frame.segments_)

    def _append_quats(self, start: int, quats: FloatArray) -> None:
        if quats.shape[0] == 0:
            return
        q_start = self._q_start()
        if start != q_start + self._q.shape[0]:  # pragma: no cover - the filter emits contiguously
            raise AssertionError("attitude output out of order")
        self._q = np.concatenate([self._q, quats])
        if self._levelled_at is not None and self._attitude.levelled_index_ is not None:
            self._levelled_at = min(self._levelled_at, self._attitude.levelled_index_)

    def _q_start(self) -> int:
        """Absolute index of the first kept sample (times and quaternions start together)."""
        return (self._start or 0) + self._received - self._t.shape[0]

    def _add_contacts(self, contacts: ContactTable) -> None:
        for ic, step_s in zip(contacts.ic_index.tolist(), contacts.step_time_s.tolist(), strict=True):
            if ic < self._q_start() or ic >= (self._start or 0) + self._received:
                raise InputError(
                    "an initial contact outside the samples held",
                    expected=f"index in [{self._q_start()}, {(self._start or 0) + self._received})",
                    found=str(ic),
                )
            if self._ics and ic <= self._ics[-1][0]:
                raise InputError(
                    "initial contacts must increase", expected=f"after {self._ics[-1][0]}", found=str(ic)
                )
            count = self._ics[-1][1] + 1 if self._ics and np.isfinite(step_s) else 0
            self._ics.append((ic, count))
            if count >= 2:
                first = self._ics[0]
                self._open.append((first[0], ic, first[1] % 2))

    # ------------------------------------------------------------------ strides
    def _close_strides(self) -> PelvisStrideTable:
        rows = []
        q_end = self._q_start() + self._q.shape[0]
        while self._open and self._open[0][1] < q_end:
            rows.append(self._stride(*self._open.popleft()))
        self._trim()
        return PelvisStrideTable.from_rows(rows)

    def _trim(self) -> None:
        keep = (self._start or 0) + self._received - self._history
        if self._open:
            keep = min(keep, self._open[0][0])
        if len(self._ics) >= 2:
            keep = min(keep, self._ics[-2][0])
        drop = min(max(0, keep - self._q_start()), self._q.shape[0])
        self._t, self._q = self._t[drop:], self._q[drop:]

    def _reference(self, end: int) -> tuple[FloatArray, int, bool]:
        """The reference frame for a stride ending at ``end``: (rotation, epoch number, trusted)."""
        number = max(i for i, e in enumerate(self._epochs) if e.start <= end) if self._epochs else 0
        epoch = self._epochs[number]
        if self.frame is None and epoch.reference is not None:
            return epoch.reference, number, True
        k = int(np.searchsorted(np.asarray(self._seg_starts), end, side="right")) - 1
        current = self._seg_rotations[max(k, 0)]
        if epoch.reference is not None and epoch.reference_start <= end:
            return level_frame(epoch.reference[1], current[0]), number, True
        return current, number, False

    def _stride(self, start: int, end: int, parity: int) -> dict[str, float]:
        base = self._q_start()
        reference, epoch_number, trusted = self._reference(end)
        epoch = self._epochs[epoch_number]
        angles = pelvis_angles_deg(self._q[start - base : end - base + 1], reference)
        t = self._t[start - base : end - base + 1]
        heading = angles[:, 2]
        chord = heading[0] + (heading[-1] - heading[0]) * (t - t[0]) / (t[-1] - t[0])
        tilt, obliquity, rotation = angles[:-1, 0], angles[:-1, 1], (heading - chord)[:-1]
        settled = (
            trusted and start >= epoch.start and (self._levelled_at is None or start >= self._levelled_at)
        )
        row: dict[str, float] = {
            "start_index": start,
            "end_index": end,
            "t_start_s": float(t[0]),
            "t_end_s": float(t[-1]),
            "parity": parity,
            "frame_epoch": epoch_number,
            "settled": settled,
            "tilt_mean_deg": float(tilt.mean()),
            "tilt_rom_deg": float(tilt.max() - tilt.min()),
            "obliquity_mean_deg": float(obliquity.mean()),
            "obliquity_rom_deg": float(obliquity.max() - obliquity.min()),
            "rotation_rom_deg": float(rotation.max() - rotation.min()),
        }
        row.update(self._variability(row, parity, epoch_number, settled))
        return row

    def _variability(self, row: dict[str, float], parity: int, epoch: int, settled: bool) -> dict[str, float]:
        if epoch != self._window_epoch:
            self._window_epoch = epoch
            for w in self._windows.values():
                w.clear()
        window = self._windows[parity]
        if settled:
            window.append((row["tilt_mean_deg"], row["tilt_rom_deg"]))
            while len(window) > self.settings.window_strides:
                window.popleft()
        nan = float("nan")
        if len(window) < self.settings.window_strides:
            return {
                "tilt_mean_sd_deg": nan,
                "tilt_mean_cv_pct": nan,
                "tilt_rom_sd_deg": nan,
                "tilt_rom_cv_pct": nan,
            }
        values = np.array(window)
        sd = values.std(axis=0, ddof=1)
        mean = np.abs(values.mean(axis=0))
        return {
            "tilt_mean_sd_deg": float(sd[0]),
            "tilt_mean_cv_pct": float(100.0 * sd[0] / mean[0]) if self.absolute else nan,
            "tilt_rom_sd_deg": float(sd[1]),
            "tilt_rom_cv_pct": float(100.0 * sd[1] / mean[1]),
        }
