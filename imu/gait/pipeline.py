"""The one streaming chain from sensor-frame samples to final per-step rows, strides and bouts.

::

    SampleBlock ──► BodyFrameStage ──► BodyBlock ─┬─► ActivityBouts ──── kind in force, hop by hop ──┐
    (sensor frame)                                ├─► RunningContacts ─┐                            │
                                                  └─► WalkingContacts ─┴─► contacts ──► decided ◄───┘
                                                                                          │
                                      body samples and the steps, in order                ▼
                                                              SideStage, PelvisStage ──► step rows, strides

Which contacts are steps
========================
A contact is only a running step if it lies in running (the running rules also fire in fast walking at the
waist), and no step-to-step figure may reach across a bout boundary or a gap. The bout stage makes a
sample's kind final 1–1.5 s after it (its windows are centred) and up to 3 s after it while a change of gait
is pending: too late for a live step, whose figures must be final within 0.5 s of its toe-off. So each
contact is *decided* once, at a fixed point of the stream, its **due** point: ``ic_reach_samples`` of its
detector after its IC, the input by which the detector has certainly emitted it
(:attr:`RunningContacts.ic_reach_samples`: 0.6 s; walking 0.7 s), against the bout stage's state in force
there:

1. **final**: its IC lies before :attr:`ActivityBouts.final_through_index`: it is a step iff the final
   kind there is its detector's kind, in that bout;
2. **in force**: the bout stage is *steady* (no run of another kind pending,
   :attr:`ActivityBouts.progress_`), the bout in progress (:attr:`ActivityBouts.open_bout`, the kind of
   the last final sample) has its detector's kind, and no gap that ends a bout lies between that sample
   and the IC: it is a step of the bout in progress;
3. **its own window** otherwise (a change of gait pending, the start of a bout, a gap, the bout in progress
   of another kind): the bout stage's own rule (:func:`imu.gait.bouts.window_kind`: flight, movement,
   periodicity) on ``window_s`` of input ending ``ic_reach_samples`` of the running detector after the IC
   (all in by the due point; cut at a long gap): it is a step iff that kind is its detector's. Its bout
   is the bout in progress when that has its kind and no gap intervenes, else the next bout number (plus
   one per gap between): a *guess*, as the bout stage has not placed that bout yet.

Nothing waits for the bout stage, so every step is final its detector's delay after its IC (running: ≈
0.35–0.45 s after its toe-off; walking 0.7 s after its IC, before its toe-off's 0.5 s are up), and nothing
is ever retracted. Steps come out in IC order: a contact decided after a later one was emitted as a step is
dropped (only where a walking contact, decided 0.1 s later, meets a running step). The cost, at changes of
gait: a step decided on rule 2 or 3 may lie outside the bout the final table gives its kind (the bout stage
places a change where the new kind's run began, seen up to 1.5 s later, and absorbs runs shorter than
``min_bout_s``), and a guessed bout number may name a bout the table places differently or, rarely, does
not have (measured on SisFall walk/jog trials: ≈ 90 % of steps lie in a table bout of their gait, 99.6–100 %
name a row of their gait). Every decision depends only on the data up to its point of the stream, so the
rows are the same for any chunking.

The first step of each bout loses ``step_time_s``, ``cadence_spm`` and ``flight_time_s`` (they would reach
back into another bout or across a hole: the bout stage ends a bout at every gap longer than a few lost
packets). ``bout`` numbers a step's bout as the row of the session's bout table (bouts of every kind
counted, in time order).

Sides: live and smoothed
========================
The side stage runs with ``smoothed=True``. A step row carries the **live** side (``side``,
``side_confidence``, ``p_right``: final with the row, within 0.5 s of the contact; what the live
dashboard shows). The **smoothed** side (two-stride evidence, forward–backward over the neighbouring
steps: fewer unsure and wrong steps, the research tables' ``side_smoothed``) is final up to
:attr:`GaitPipeline.smoothed_look_ahead_s` later, so it comes as its own small table,
:attr:`PipelineOutput.smoothed_sides`, keyed by ``ic_index`` (one row per step, in order); batch tables
join it (:func:`imu.aggregates.steps_frame`).

Figures: ``impact_g`` (the highest raw, unfiltered vertical sample from IC to toe-off) and
``loading_rate_g_s`` (the mean slope from 20 % to 80 % of the way from the flight floor to that peak, on the
raw signal) are the running contact stage's (:mod:`imu.gait.running`).

Streaming == batch: every stage is bit-identical for any chunking, every decision is taken at a point of
the stream fixed by the data, and :meth:`GaitPipeline.update` cuts its input into pieces of at most
``piece_s`` (so a whole recording passed as one block holds no more than a piece of samples in the stages:
memory stays constant live and grows only with the output in batch).

Results: ``update`` / ``flush`` return a :class:`PipelineOutput` with what became final. ``stage_seconds_``
accumulates the compute time per stage (the speed benchmark reports it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from imu.constants import MIN_RATE_HZ, STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.gait.body_block import BodyBlock, V
from imu.gait.bouts import (
    BOUT_KINDS,
    OTHER,
    RUNNING,
    WALKING,
    ActivityBouts,
    BoutSettings,
    BoutTable,
    window_features,
    window_kind,
)
from imu.gait.column_table import ColumnTable
from imu.gait.contact_table import ContactTable
from imu.gait.frame import BodyFrameStage, FrameEvent, FrameSettings, Mounting, concat_body
from imu.gait.pelvis import PelvisSettings, PelvisStage, PelvisStrideTable
from imu.gait.running import RunningContacts, RunningContactSettings
from imu.gait.sides import SideSettings, SideStage, StepSide
from imu.gait.walking import WalkingContacts, WalkingContactSettings
from imu.samples import SampleBlock

STEP_DTYPES: dict[str, Any] = {
    "ic_index": np.int64,
    "t_s": np.float64,
    "side": "<U1",
    "side_confidence": np.float64,
    "p_right": np.float64,
    "to_index": np.int64,
    "to_t_s": np.float64,
    "contact_time_s": np.float64,
    "flight_time_s": np.float64,
    "step_time_s": np.float64,
    "cadence_spm": np.float64,
    "impact_g": np.float64,
    "loading_rate_g_s": np.float64,
    "bout": np.int64,
    "gait": "<U7",
    "frame_confidence": np.float64,
}
"""Columns of :class:`StepTable` and their dtypes (units in the names; ``side`` is L, R or ?)."""

SMOOTHED_SIDE_DTYPES: dict[str, Any] = {
    "ic_index": np.int64,
    "side_smoothed": "<U1",
    "side_smoothed_confidence": np.float64,
    "p_right_smoothed": np.float64,
}
"""Columns of :class:`SmoothedSideTable` (``side_smoothed`` is L, R or ?)."""

CHAIN_COLUMNS = ("step_time_s", "cadence_spm", "flight_time_s")
"""Figures that refer to the previous contact: NaN for the first contact of a bout."""

KINDS = (RUNNING, WALKING)
"""The detectors' kinds, in the order of their codes in the decision arrays."""

FLIGHT_BITS = 20
FLIGHT_LIMIT_G = 64.0
"""A contact's own flight cue sums the vertical acceleration, clipped to ± FLIGHT_LIMIT_G and rounded to
2**-FLIGHT_BITS g, as integers: exact, so a window's sum does not depend on where the stream was cut."""

KIND_CODES = np.array([BOUT_KINDS.index(k) for k in KINDS])
"""Each detector kind's code in :data:`imu.gait.bouts.BOUT_KINDS`."""


# ---------------------------------------------------------------------------------------------- outputs
@dataclass(frozen=True, eq=False)
class StepTable(ColumnTable):
    """One row per step (an initial contact decided to lie in a running or walking bout), in time order
    (see :data:`STEP_DTYPES`).

    The contact figures are those of :mod:`imu.gait.contact_table` (``t_s`` is its ``ic_t_s``); ``side``,
    ``side_confidence`` (0.5–1) and ``p_right`` are the **live** side of :class:`imu.gait.sides.SideStage`
    (final with the row; the smoothed side follows in :class:`SmoothedSideTable`); ``gait`` is the bout
    kind; ``frame_confidence`` that of the body frame in effect at the contact (0–1, 1 if stated).
    """

    DTYPES: ClassVar[dict[str, Any]] = STEP_DTYPES
    TEXT: ClassVar[tuple[str, ...]] = ("side", "gait")

    ic_index: NDArray[np.int64]
    t_s: NDArray[np.float64]
    side: NDArray[np.str_]
    side_confidence: NDArray[np.float64]
    p_right: NDArray[np.float64]
    to_index: NDArray[np.int64]
    to_t_s: NDArray[np.float64]
    contact_time_s: NDArray[np.float64]
    flight_time_s: NDArray[np.float64]
    step_time_s: NDArray[np.float64]
    cadence_spm: NDArray[np.float64]
    impact_g: NDArray[np.float64]
    loading_rate_g_s: NDArray[np.float64]
    bout: NDArray[np.int64]
    gait: NDArray[np.str_]
    frame_confidence: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class SmoothedSideTable(ColumnTable):
    """The **smoothed** side of each step, keyed by its ``ic_index`` (one row per step, in order): the
    research tables' side (see the module docstring). ``side_smoothed_confidence`` is 0.5–1."""

    DTYPES: ClassVar[dict[str, Any]] = SMOOTHED_SIDE_DTYPES
    TEXT: ClassVar[tuple[str, ...]] = ("side_smoothed",)

    ic_index: NDArray[np.int64]
    side_smoothed: NDArray[np.str_]
    side_smoothed_confidence: NDArray[np.float64]
    p_right_smoothed: NDArray[np.float64]

    @classmethod
    def from_sides(cls, sides: Sequence[StepSide]) -> SmoothedSideTable:
        return cls(
            np.array([s.index for s in sides], np.int64),
            np.array([s.side for s in sides], "<U1"),
            np.array([s.confidence for s in sides], np.float64),
            np.array([s.p_right for s in sides], np.float64),
        )


@dataclass(frozen=True)
class PipelineOutput:
    """What became final in one ``update`` / ``flush``: step rows, pelvis strides, bouts, frame events, and
    the smoothed sides of earlier (or these) steps."""

    steps: StepTable
    strides: PelvisStrideTable
    bouts: BoutTable
    frame_events: tuple[FrameEvent, ...] = ()
    smoothed_sides: SmoothedSideTable = field(default_factory=SmoothedSideTable.empty)

    @classmethod
    def empty(cls) -> PipelineOutput:
        return cls(StepTable.empty(), PelvisStrideTable.empty(), BoutTable.empty())

    @classmethod
    def concat(cls, outputs: Sequence[PipelineOutput]) -> PipelineOutput:
        """Join outputs of successive calls (the ``join`` for :func:`imu.gait.stage.run_stream`)."""
        return cls(
            StepTable.concat([o.steps for o in outputs]),
            PelvisStrideTable.concat([o.strides for o in outputs]),
            BoutTable.concat([o.bouts for o in outputs]),
            tuple(e for o in outputs for e in o.frame_events),
            SmoothedSideTable.concat([o.smoothed_sides for o in outputs]),
        )


@dataclass(frozen=True)
class PipelineSettings:
    """Settings of every stage, plus the size of the pieces the input is cut into (s).

    ``piece_s``: a block longer than this (a recording analysed as one block) is fed piece by piece, so
    the stages hold at most a piece of samples: their memory does not grow with the recording. 120 s: on
    the benchmark's simulated hour (``benchmarks/results/pipeline_speed.md``) 30 s pieces took about half
    the time of 5 s ones (the stages' per-call cost dominates short pieces); once the stages' compute had
    been cut, 30 / 60 / 120 s pieces took 0.62 / 0.54 / 0.50 s of CPU for a peak of 11 / 16 / 25 MB
    (same minute, one BLAS thread). A live stream's blocks are far shorter than a piece.
    """

    frame: FrameSettings = field(default_factory=FrameSettings)
    bouts: BoutSettings = field(default_factory=BoutSettings)
    running: RunningContactSettings = field(default_factory=RunningContactSettings)
    walking: WalkingContactSettings = field(default_factory=WalkingContactSettings)
    sides: SideSettings = field(default_factory=SideSettings)
    pelvis: PelvisSettings = field(default_factory=PelvisSettings)
    piece_s: float = 120.0


# ---------------------------------------------------------------------------------------------- decisions
CONTACT_COLUMNS = tuple(ContactTable.DTYPES)
"""The contact table's columns, in order."""


@dataclass
class _Contacts:
    """Contacts (the contact table's columns as plain arrays, cheap to cut and join) plus ``kind`` (index
    into :data:`KINDS`) and ``due`` (absolute input index at which they are decided)."""

    columns: dict[str, NDArray[Any]]
    kind: NDArray[np.int64]
    due: NDArray[np.int64]

    @classmethod
    def empty(cls) -> _Contacts:
        t = ContactTable.empty()
        return cls({n: getattr(t, n) for n in CONTACT_COLUMNS}, np.empty(0, np.int64), np.empty(0, np.int64))

    @classmethod
    def of(cls, table: ContactTable, kind: NDArray[np.int64], due: NDArray[np.int64]) -> _Contacts:
        return cls({n: getattr(table, n) for n in CONTACT_COLUMNS}, kind, due)

    def __len__(self) -> int:
        return int(self.due.shape[0])

    @property
    def ic_index(self) -> NDArray[np.int64]:
        return self.columns["ic_index"]

    def take(self, pick: NDArray[Any]) -> _Contacts:
        return _Contacts({n: c[pick] for n, c in self.columns.items()}, self.kind[pick], self.due[pick])

    def table(self) -> ContactTable:
        return ContactTable(**self.columns)

    @classmethod
    def concat(cls, parts: Sequence[_Contacts]) -> _Contacts:
        return cls(
            {n: np.concatenate([p.columns[n] for p in parts]) for n in CONTACT_COLUMNS},
            np.concatenate([p.kind for p in parts]),
            np.concatenate([p.due for p in parts]),
        )


# ---------------------------------------------------------------------------------------------- the chain
class GaitPipeline:
    """Sensor-frame :class:`SampleBlock` in, :class:`PipelineOutput` out (see the module docstring).

    ``has_gyr``: whether the blocks carry angular rate (pelvis angles need it; without it the side stage
    uses acceleration alone). ``mounting``: a stated sensor-to-body rotation instead of the found frame.
    """

    def __init__(
        self,
        rate_hz: float,
        has_gyr: bool,
        settings: PipelineSettings | None = None,
        mounting: Mounting | None = None,
    ) -> None:
        if not np.isfinite(rate_hz) or rate_hz < MIN_RATE_HZ:
            raise InputError(
                "sampling rate too low to resolve running steps",
                expected=f"at least {MIN_RATE_HZ:g} Hz",
                found=f"{rate_hz:.4g} Hz",
            )
        self.settings = s = settings or PipelineSettings()
        self.rate_hz = float(rate_hz)
        self.has_gyr = bool(has_gyr)
        self.frame = BodyFrameStage(rate_hz, s.frame, mounting)
        self.bouts = ActivityBouts(rate_hz, s.bouts)
        self.running = RunningContacts(rate_hz, s.running)
        self.walking = WalkingContacts(rate_hz, s.walking)
        self.sides = SideStage(rate_hz, s.sides, smoothed=True)
        self.pelvis = PelvisStage(rate_hz, s.pelvis, frame=self.frame) if has_gyr else None
        self._piece = max(1, round(s.piece_s * rate_hz))
        self._reach = np.array([self.running.ic_reach_samples, self.walking.ic_reach_samples], np.int64)
        # a contact's own window (rule 3): the bout stage's window length, ending at the earliest due point
        self._own_ahead = int(self._reach.min())
        self._own_back = max(0, round(s.bouts.window_s * rate_hz) - self._own_ahead)
        self._min_own = max(2, round(s.bouts.min_window_s * rate_hz))
        self._flight_smooth = max(1, round(s.bouts.flight_smooth_s * rate_hz))
        self._av_g: NDArray[np.float64] = np.empty(0)  # vertical acceleration (g) from absolute _av_base
        self._av_base = 0
        self._breaks: NDArray[np.int64] = np.empty(0, np.int64)  # stream start, first sample after long gaps
        # body samples: held from _kept (times for the feed horizon) to _end; fed downstream up to _fed
        self._first: int | None = None
        self._end: int | None = None
        self._held: list[BodyBlock] = []
        self._kept = 0
        self._fed = 0
        self._last_t: float | None = None
        self._gaps: NDArray[np.int64] = np.empty(0, np.int64)  # first sample after each bout-ending gap
        # the bout stage's state in force: (input end from which it holds, final_through_index, steady)
        self._snapshot: tuple[int, int, bool] = (-1, 0, True)
        self._progress: list[tuple[int, int, bool]] = []  # the states since, from ActivityBouts.progress_
        self._bouts_kept: list[tuple[int, int, str]] = []  # (start, end, kind) of emitted bouts still needed
        self._n_bouts = 0
        # contacts and steps
        self._undecided = _Contacts.empty()
        self._last_ic = -1  # IC of the last emitted step
        self._last_bout = -1
        # emitted steps waiting for their live side (in IC order), with their bout number and gait code
        self._waiting = _Contacts.empty()
        self._events_seen = 0
        self._segments_to_sides = 0  # frame segments passed to the side stage (it re-rotates early steps)
        self._seg_starts: NDArray[np.int64] = np.empty(0, np.int64)
        self._seg_confidence: NDArray[np.float64] = np.empty(0)
        self.stage_seconds_: dict[str, float] = dict.fromkeys(
            ("frame", "bouts", "running", "walking", "sides", "pelvis", "pipeline"), 0.0
        )

    @property
    def steady_delay_s(self) -> dict[str, float]:
        """Input after its IC by which a step is final, per gait: its detector's ``ic_reach_samples``
        (running ≈ 0.6 s, i.e. ≈ 0.35–0.45 s after toe-off; walking ≈ 0.7 s), plus the frame stage's delay
        (none for the causal frame)."""
        return {
            kind: self.frame.look_ahead_s + float(r) / self.rate_hz
            for kind, r in zip(KINDS, self._reach, strict=True)
        }

    @property
    def look_ahead_s(self) -> float:
        """The longest input delay before a step row is final: the slower detector's due delay (see
        :attr:`steady_delay_s`), or the live side's own look-ahead if that were longer. Strides are final no
        later than the step that closes them."""
        return max(*self.steady_delay_s.values(), self.frame.look_ahead_s + self.sides.look_ahead_s)

    @property
    def smoothed_look_ahead_s(self) -> float:
        """The longest input delay before a step's smoothed side is final (:attr:`PipelineOutput.
        smoothed_sides`): its row's, then the side stage's smoothed look-ahead."""
        return self.look_ahead_s + self.sides.smoothed_look_ahead_s

    # ------------------------------------------------------------------ streaming
    def update(self, block: SampleBlock) -> PipelineOutput:
        if len(block) and block.has_gyr != self.has_gyr:
            raise InputError(
                "the blocks do not match the pipeline",
                expected="angular rate" if self.has_gyr else "acceleration only",
                found="angular rate" if block.has_gyr else "acceleration only",
            )
        outputs = []
        for start in range(0, len(block), self._piece):
            piece = block.slice(start, start + self._piece)
            body = self._timed("frame", self.frame.update, piece)
            bouts = self._feed_sources(body)
            outputs.append(self._advance(bouts, final=False))
        return PipelineOutput.concat(outputs) if outputs else PipelineOutput.empty()

    def flush(self) -> PipelineOutput:
        body = self._timed("frame", self.frame.flush)
        bouts = self._feed_sources(body)
        last = self._timed("bouts", self.bouts.flush)
        self._progress += self.bouts.progress_
        self._note_bouts(last)
        bouts = BoutTable.concat([bouts, last])
        self._add_contacts(RUNNING, self._timed("running", self.running.flush))
        self._add_contacts(WALKING, self._timed("walking", self.walking.flush))
        return self._advance(bouts, final=True)

    # ------------------------------------------------------------------ sources
    def _timed(self, stage: str, call: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        out = call(*args)
        self.stage_seconds_[stage] += time.perf_counter() - t0
        return out

    def _feed_sources(self, body: BodyBlock) -> BoutTable:
        """Body samples to the bout and contact stages; hold them for the sides and the pelvis."""
        if len(body) == 0:
            return BoutTable.empty()
        if self._first is None:
            self._first = self._kept = self._fed = self._av_base = body.start_index
            self._snapshot = (-1, body.start_index, True)
            self._breaks = np.array([body.start_index], np.int64)
        t0 = time.perf_counter()
        self._end = body.stop_index
        self._held.append(body)
        self._av_g = np.concatenate([self._av_g, body.acc[:, V] / STANDARD_GRAVITY_MS2])
        dt = np.diff(body.t_s, prepend=body.t_s[0] if self._last_t is None else self._last_t)
        gaps = body.start_index + np.flatnonzero(dt > self.bouts.gap_split_s)
        if gaps.shape[0]:
            self._gaps = np.concatenate([self._gaps, gaps])
            long = gaps[dt[gaps - body.start_index] > self.settings.bouts.max_bridged_gap_s]
            self._breaks = np.concatenate([self._breaks, long])
        self._last_t = float(body.t_s[-1])
        self.stage_seconds_["pipeline"] += time.perf_counter() - t0
        bouts = self._timed("bouts", self.bouts.update, body)
        self._progress += self.bouts.progress_
        self._note_bouts(bouts)
        self._add_contacts(RUNNING, self._timed("running", self.running.update, body))
        self._add_contacts(WALKING, self._timed("walking", self.walking.update, body))
        return bouts

    def _note_bouts(self, bouts: BoutTable) -> None:
        for start, end, kind in zip(
            bouts.start_index.tolist(), bouts.end_index.tolist(), bouts.kind.tolist(), strict=True
        ):
            self._bouts_kept.append((start, end, kind))
        self._n_bouts += len(bouts)

    def _add_contacts(self, kind: str, table: ContactTable) -> None:
        if len(table) == 0:
            return
        code = KINDS.index(kind)
        new = _Contacts.of(table, np.full(len(table), code), table.ic_index + self._reach[code])
        both = _Contacts.concat([self._undecided, new])
        self._undecided = both.take(np.lexsort((both.ic_index, both.due)))

    # ------------------------------------------------------------------ decisions
    def _bout_lookup(self, index: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(bout number, kind code in :data:`BOUT_KINDS`) of absolute sample indices whose kind is final
        (before the bout stage's ``final_through_index``); (-1, -1) outside every bout."""
        starts = [b[0] for b in self._bouts_kept]
        ends = [b[1] for b in self._bouts_kept]
        codes = [BOUT_KINDS.index(b[2]) for b in self._bouts_kept]
        first = self._n_bouts - len(self._bouts_kept)
        open_bout = self.bouts.open_bout
        if open_bout is not None:
            starts.append(open_bout[1])
            ends.append(self.bouts.final_through_index)
            codes.append(BOUT_KINDS.index(open_bout[0]))
        if not starts:
            return np.full(index.shape, -1), np.full(index.shape, -1)
        k = np.searchsorted(np.array(ends, np.int64), index, side="right")
        kc = np.minimum(k, len(starts) - 1)
        inside = (k < len(starts)) & (np.array(starts, np.int64)[kc] <= index)
        return np.where(inside, first + kc, -1), np.where(inside, np.array(codes)[kc], -1)

    def _decide(
        self, snapshots: list[tuple[int, int, bool]], final: bool
    ) -> tuple[_Contacts, NDArray[np.int64]]:
        """Decide the undecided contacts that are due (all of them when ``final``), each against the bout
        stage's state in force at its due point (``snapshots``: the one in force before this call first;
        see the module docstring).

        Returns the contacts decided as steps, in the order they were decided, and their bout numbers;
        keeps the contacts not due yet.
        """
        c = self._undecided
        assert self._end is not None and self._first is not None
        due = c.due if not final else np.minimum(c.due, self._end)
        now = due <= self._end
        if not now.any():
            return _Contacts.empty(), np.empty(0, np.int64)
        self._undecided = c.take(np.flatnonzero(~now))
        c, due = c.take(np.flatnonzero(now)), due[now]
        at = np.array([s[0] for s in snapshots], np.int64)
        # the state in force at the due point (a contact due before this call: the one it ended in)
        j = np.searchsorted(at, np.maximum(due, self._snapshot[0] + 1), side="right") - 1
        final_to = np.array([s[1] for s in snapshots], np.int64)[j]
        steady = np.array([s[2] for s in snapshots], bool)[j]
        ic = c.ic_index
        kind_code = KIND_CODES[c.kind]
        # rule 1: the final kind at the IC
        ic_bout, ic_kind = self._bout_lookup(ic)
        exact = ic < final_to
        # rule 2: the bout in progress, no change pending, no gap between its last final sample and the IC
        last = final_to - 1
        last_bout, last_kind = self._bout_lookup(last)
        gaps = np.searchsorted(self._gaps, ic, side="right") - np.searchsorted(self._gaps, last, side="right")
        same_bout = (last >= self._first) & (last_kind == kind_code) & (gaps == 0)
        in_force = ~exact & steady & same_bout
        # rule 3: the contact's own window; it opens a new bout unless it continues the one in progress
        own = ~exact & ~in_force
        step = np.where(exact, ic_kind == kind_code, True)
        if own.any():
            step[own] = self._own_kind(ic[own], kind_code[own]) == kind_code[own]
        guess = np.where(last_bout >= 0, last_bout + gaps + (~same_bout & (gaps == 0)), gaps)
        bout = np.where(exact, ic_bout, np.where(own, guess, last_bout))
        order = np.lexsort((ic, np.maximum(at[j], due)))
        order = order[step[order]]
        return c.take(order), bout[order]

    def _own_kind(self, ic: NDArray[np.int64], detector: NDArray[np.int64]) -> NDArray[np.int64]:
        """The kind (code in :data:`BOUT_KINDS`) each contact's own window shows by the bout stage's cues:
        ``window_s`` of input ending ``_own_ahead`` after its IC (so known at its due point), cut at a long
        gap and at the stream's end; ``other`` when less than ``min_window_s`` is left.

        Running or walking is the flight cue (share of the window's ``flight_smooth_s`` moving means below
        ``flight_g``);
        movement and periodicity (``other`` when either is too low) are measured only where it agrees with
        the contact's detector (``detector``: its kind's code), the rest being no step whatever they show."""
        assert self._end is not None
        br = self._breaks
        lo = np.maximum(ic - self._own_back, br[np.searchsorted(br, ic, side="right") - 1])
        after = np.searchsorted(br, ic, side="right")
        nxt = np.where(after < br.shape[0], br[np.minimum(after, br.shape[0] - 1)], self._end)
        hi = np.minimum(np.minimum(ic + self._own_ahead, nxt), self._end)
        bs = self.settings.bouts
        m = self._flight_smooth
        # moving sums as differences of exact integer prefix sums (2**-20 g steps): the same for any chunking
        span = self._av_g[int(lo.min()) - self._av_base : int(hi.max()) - self._av_base]
        span = np.where(np.isfinite(span), np.clip(span, -FLIGHT_LIMIT_G, FLIGHT_LIMIT_G), 1.0)
        run = np.concatenate([[0], np.cumsum(np.rint(span * 2.0**FLIGHT_BITS).astype(np.int64))])
        low = np.concatenate([[0], np.cumsum(run[m:] - run[:-m] < bs.flight_g * m * 2.0**FLIGHT_BITS)])
        a = np.minimum(lo - int(lo.min()), low.shape[0] - 1)
        b = np.clip(hi - int(lo.min()) - m + 1, a, low.shape[0] - 1)
        flight = (low[b] - low[a]) / np.maximum(b - a, 1) >= bs.running_flight_fraction
        kinds = np.where(flight, BOUT_KINDS.index(RUNNING), BOUT_KINDS.index(WALKING))
        kinds[hi - lo < self._min_own] = BOUT_KINDS.index(OTHER)
        check = np.flatnonzero((kinds == detector) & (hi - lo >= self._min_own))
        if check.shape[0]:
            # the windows laid end to end (a window's figures depend on its own samples only)
            n = hi[check] - lo[check]
            ends = np.cumsum(n)
            at = np.repeat(lo[check] - self._av_base - (ends - n), n) + np.arange(int(ends[-1]))
            features = window_features(self._av_g[at], ends - n, ends, self.rate_hz, bs)
            kinds[check[window_kind(features, bs) == OTHER]] = BOUT_KINDS.index(OTHER)
        return kinds

    def _emit(self, steps: _Contacts, bouts: NDArray[np.int64]) -> ContactTable:
        """The decided steps in order, dropping any not after the last emitted one, with chain breaks
        (``due`` of the steps kept for their live side holds their bout number)."""
        ic = steps.ic_index
        # a step is kept iff its IC lies after every IC before it (a dropped one never raises that bar)
        bar = np.maximum.accumulate(np.concatenate([[self._last_ic], ic]))[:-1]
        pick = np.flatnonzero(ic > bar)
        kept = steps.take(pick)
        kept.due = bouts[pick]
        if len(kept):
            broken = kept.due != np.concatenate([[self._last_bout], kept.due[:-1]])
            for name in CHAIN_COLUMNS:
                kept.columns[name] = np.where(broken, np.nan, kept.columns[name])
            self._last_ic, self._last_bout = int(kept.ic_index[-1]), int(kept.due[-1])
        self._waiting = _Contacts.concat([self._waiting, kept])
        return kept.table()

    # ------------------------------------------------------------------ downstream
    def _advance(self, bouts: BoutTable, *, final: bool) -> PipelineOutput:
        t0 = time.perf_counter()
        events = tuple(self.frame.events_[self._events_seen :])
        self._events_seen = len(self.frame.events_)
        if self._end is None:
            return PipelineOutput(StepTable.empty(), PelvisStrideTable.empty(), bouts, events)
        snapshots = [self._snapshot, *self._progress]
        self._progress = []
        decided, bout_numbers = self._decide(snapshots, final)
        steps = self._emit(decided, bout_numbers)
        self._snapshot = snapshots[-1]
        body = self._take_body(final)
        self.stage_seconds_["pipeline"] += time.perf_counter() - t0
        segments = self.frame.segments_[self._segments_to_sides :]
        self._segments_to_sides += len(segments)
        sides: list[StepSide] = self._timed("sides", self.sides.update, body, steps.ic_index, segments)
        strides = (
            self._timed("pelvis", self.pelvis.update, body, steps)
            if self.pelvis is not None
            else PelvisStrideTable.empty()
        )
        if final:
            sides += self._timed("sides", self.sides.flush)
            if self.pelvis is not None:
                strides = PelvisStrideTable.concat([strides, self._timed("pelvis", self.pelvis.flush)])
        t0 = time.perf_counter()
        smoothed = SmoothedSideTable.from_sides(self.sides.take_smoothed())
        table = self._step_table(sides)
        self._forget()
        self.stage_seconds_["pipeline"] += time.perf_counter() - t0
        return PipelineOutput(table, strides, bouts, events, smoothed)

    def _take_body(self, final: bool) -> BodyBlock:
        """The held body samples the sides and the pelvis may have now: up to ``max_step_s`` (the side
        stage's reach for a late contact) after the earliest IC a step can still have."""
        assert self._end is not None
        if not self._held:
            return concat_body([])
        base = self._held[0].start_index
        stop = self._end
        if not final:
            live = self._undecided.ic_index
            live = live[live > self._last_ic]
            earliest = int(self._end - self._reach.max())
            if live.shape[0]:
                earliest = min(earliest, int(live.min()))
            earliest = max(earliest, self._kept)
            t_s = np.concatenate([b.t_s for b in self._held]) if len(self._held) > 1 else self._held[0].t_s
            t_limit = t_s[earliest - base] + self.sides.settings.max_step_s
            stop = min(stop, base + int(np.searchsorted(t_s, t_limit, side="right")))
            stop = max(stop, self._fed, self._last_ic + 1)
            self._kept = earliest
        taken = self._held_slice(self._fed, stop)
        keep_from = min(self._kept, stop)
        rest = self._held_slice(keep_from, self._end)
        self._held = [rest] if len(rest) else []
        self._kept, self._fed = keep_from, stop
        return taken

    def _held_slice(self, lo: int, hi: int) -> BodyBlock:
        """Held body samples ``[lo, hi)`` (absolute indices), joined only where they span two blocks."""
        parts = [
            b
            if lo <= b.start_index and b.stop_index <= hi
            else b.slice(max(0, lo - b.start_index), hi - b.start_index)
            for b in self._held
            if b.stop_index > lo and b.start_index < hi
        ]
        if len(parts) == 1:
            return parts[0]
        if parts:
            return concat_body(parts)
        last = self._held[-1]  # nothing in [lo, hi): an empty block at lo, within what is held
        return last.slice(min(max(0, lo - last.start_index), len(last)), 0)

    def _step_table(self, sides: list[StepSide]) -> StepTable:
        """The rows of the waiting steps whose live side is now final."""
        if not sides:
            return StepTable.empty()
        segments = self.frame.segments_[self._seg_starts.shape[0] :]
        if segments:
            self._seg_starts = np.append(self._seg_starts, [seg.start_index for seg in segments])
            self._seg_confidence = np.append(self._seg_confidence, [seg.confidence for seg in segments])
        index = np.array([side.index for side in sides], np.int64)
        w = self._waiting
        at = np.searchsorted(w.ic_index, index)
        rows = w.take(at)
        rest = np.ones(len(w), bool)
        rest[at] = False
        self._waiting = w.take(np.flatnonzero(rest))
        k = np.searchsorted(self._seg_starts, index, side="right") - 1
        c = rows.columns
        return StepTable(
            ic_index=index,
            t_s=c["ic_t_s"],
            side=np.array([side.side for side in sides], "<U1"),
            side_confidence=np.array([side.confidence for side in sides], np.float64),
            p_right=np.array([side.p_right for side in sides], np.float64),
            to_index=c["to_index"],
            to_t_s=c["to_t_s"],
            contact_time_s=c["contact_time_s"],
            flight_time_s=c["flight_time_s"],
            step_time_s=c["step_time_s"],
            cadence_spm=c["cadence_spm"],
            impact_g=c["impact_g"],
            loading_rate_g_s=c["loading_rate_g_s"],
            bout=rows.due,
            gait=np.array(KINDS)[rows.kind],
            frame_confidence=np.where(k >= 0, self._seg_confidence[np.maximum(k, 0)], 0.0)
            if self._seg_starts.shape[0]
            else np.zeros(index.shape[0]),
        )

    def _forget(self) -> None:
        """Drop bouts and gaps that no undecided contact or later state can refer to any more."""
        oldest = min(self._snapshot[1] - 1, self._kept)
        if len(self._undecided):
            oldest = min(oldest, int(self._undecided.ic_index.min()))
        while self._bouts_kept and self._bouts_kept[0][1] <= oldest:
            self._bouts_kept.pop(0)
        self._gaps = self._gaps[self._gaps > oldest]
        # contact own windows: a contact not emitted yet has its IC at most the largest reach before the end
        assert self._end is not None
        ic_from = self._end - int(self._reach.max())
        if len(self._undecided):
            ic_from = min(ic_from, int(self._undecided.ic_index.min()))
        keep = ic_from - self._own_back
        if keep > self._av_base:
            self._av_g = self._av_g[keep - self._av_base :]
            self._av_base = keep
            self._breaks = self._breaks[max(0, int(np.searchsorted(self._breaks, keep, side="right")) - 1) :]
