"""The one streaming chain from sensor-frame samples to final per-step rows, strides and bouts.

::

    SampleBlock ──► BodyFrameStage ──► BodyBlock ─┬─► ActivityBouts ───────────────┐
    (sensor frame)                                ├─► RunningContacts ─┐            │ bout kind final
                                                  └─► WalkingContacts ─┴─► held ◄───┘ up to the horizon
                                                                            │
                              body samples and the contacts of their bout's kind, up to the horizon
                                                                            ▼
                                                              SideStage, PelvisStage ──► step rows, strides

Why the horizon: a contact is only a running step if it lies in a running bout (the running rules also
fire in fast walking at the waist), and no step-to-step figure may reach across a bout boundary or a gap.
The contact detectors see every body block as it arrives; their contacts wait until the kind of the
samples they lie in is final (the bout stage's own look-ahead) and until the detectors cannot emit an
earlier contact any more. Everything after that point (sides, pelvis strides) is fed the body samples and
the selected contacts up to that *horizon*, so it runs a fixed delay behind the detectors, on final input.

Selection: running contacts in running bouts, walking contacts in walking bouts, none elsewhere. The first
contact of each bout loses ``step_time_s``, ``cadence_spm`` and ``flight_time_s`` (they would reach back
into another bout or across a hole: the bout stage ends a bout at every gap longer than a few lost
packets). ``bout`` numbers a step's bout as the row of the session's bout table (bouts of every kind
counted, in time order).

Impact: ``impact_g`` is the peak of the *unfiltered* body-frame vertical acceleration from IC to toe-off
(the contact stage's own figure is taken on its 20 Hz IC signal, which flattens a heel-strike transient of
≈ 7 ms: on the simulated runner it read 0.67 g low and cut an injected 10 % left/right impact asymmetry to
about 2 %). ``loading_rate_g_s`` stays the contact stage's (20 Hz signal).

Streaming == batch: every stage is bit-identical for any chunking, the horizon is a function of what has
arrived, and :meth:`GaitPipeline.update` cuts its input into pieces of at most ``piece_s`` (so a whole
recording passed as one block costs no more memory than a live stream and the side stage's evidence
windows stay short). ``look_ahead_s`` is the longest delay between a sample arriving and the step row it
decides being emitted (see :attr:`GaitPipeline.look_ahead_s`).

Results: ``update`` / ``flush`` return a :class:`PipelineOutput` with what became final. ``stage_seconds_``
accumulates the compute time per stage (the speed benchmark reports it).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from imu.constants import MIN_RATE_HZ, STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.gait.body_block import BodyBlock, V
from imu.gait.bouts import OTHER, RUNNING, WALKING, ActivityBouts, BoutSettings, BoutTable
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

CONTACT_REACH_S = 1.0
"""How far an initial contact can lie before the anchor that commits it (s): less than one step, and no
detected step is longer than 1 s. A contact stage emits a contact within its ``look_ahead_s`` of input
after the anchor, so once the input is ``look_ahead_s + CONTACT_REACH_S`` past a sample, no contact before
that sample can still come (this costs no delay: the bout kind is final later still)."""

CHAIN_COLUMNS = ("step_time_s", "cadence_spm", "flight_time_s")
"""Figures that refer to the previous contact: NaN for the first contact of a bout."""


# ---------------------------------------------------------------------------------------------- outputs
@dataclass(frozen=True, eq=False)
class StepTable:
    """One row per initial contact in a running or walking bout, in time order (see :data:`STEP_DTYPES`).

    The contact figures are those of :mod:`imu.gait.contact_table` (``t_s`` is its ``ic_t_s``); ``side``,
    ``side_confidence`` (0.5–1) and ``p_right`` come from :class:`imu.gait.sides.SideStage`; ``gait`` is the
    bout kind; ``frame_confidence`` that of the body frame in effect at the contact (0–1, 1 if stated).
    """

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

    def __post_init__(self) -> None:
        n = None
        for f in fields(self):
            col = np.ascontiguousarray(getattr(self, f.name), dtype=STEP_DTYPES[f.name])
            if col.ndim != 1 or (n is not None and col.shape[0] != n):
                raise InputError(
                    f"step column {f.name} has the wrong shape", expected=f"({n},)", found=str(col.shape)
                )
            n = col.shape[0]
            object.__setattr__(self, f.name, col)

    @classmethod
    def empty(cls) -> StepTable:
        return cls(**{name: np.empty(0, dtype) for name, dtype in STEP_DTYPES.items()})

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Any]]) -> StepTable:
        if not rows:
            return cls.empty()
        return cls(**{name: np.array([r[name] for r in rows], dtype) for name, dtype in STEP_DTYPES.items()})

    @classmethod
    def concat(cls, tables: Sequence[StepTable]) -> StepTable:
        if not tables:
            return cls.empty()
        return cls(**{name: np.concatenate([getattr(t, name) for t in tables]) for name in STEP_DTYPES})

    def __len__(self) -> int:
        return int(self.ic_index.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with fixed dtypes (``side`` and ``gait`` as strings), also when empty."""
        data = {name: getattr(self, name) for name in STEP_DTYPES}
        frame = pd.DataFrame(data)
        for name in ("side", "gait"):
            frame[name] = frame[name].astype(object)
        return frame

    def equals(self, other: StepTable) -> bool:
        """Bit-identical columns (NaN equal to NaN): the streaming == batch contract."""
        return all(
            np.array_equal(getattr(self, name), getattr(other, name), equal_nan=np.dtype(dtype) == np.float64)
            for name, dtype in STEP_DTYPES.items()
        )


@dataclass(frozen=True)
class PipelineOutput:
    """What became final in one ``update`` / ``flush``: step rows, pelvis strides, bouts, frame events."""

    steps: StepTable
    strides: PelvisStrideTable
    bouts: BoutTable
    frame_events: tuple[FrameEvent, ...] = ()

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
        )


@dataclass(frozen=True)
class PipelineSettings:
    """Settings of every stage, plus the size of the pieces the input is cut into (s)."""

    frame: FrameSettings = field(default_factory=FrameSettings)
    bouts: BoutSettings = field(default_factory=BoutSettings)
    running: RunningContactSettings = field(default_factory=RunningContactSettings)
    walking: WalkingContactSettings = field(default_factory=WalkingContactSettings)
    sides: SideSettings = field(default_factory=SideSettings)
    pelvis: PelvisSettings = field(default_factory=PelvisSettings)
    piece_s: float = 5.0


def _bout_progress(bouts: ActivityBouts) -> tuple[int, tuple[str, int] | None]:
    """(samples before this absolute index have a final bout kind, the open bout's (kind, first sample)).

    :class:`ActivityBouts` emits a bout only when it ends; a live pipeline needs the kind of the bout in
    progress, which the stage publishes as :attr:`ActivityBouts.open_bout`.
    """
    return bouts.final_through_index, bouts.open_bout


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
        self.sides = SideStage(rate_hz, s.sides)
        self.pelvis = PelvisStage(rate_hz, s.pelvis, frame=self.frame) if has_gyr else None
        self._piece = max(1, round(s.piece_s * rate_hz))
        # how far behind the newest body sample a contact can still be emitted (samples)
        reach_s = max(self.running.look_ahead_s, self.walking.look_ahead_s) + CONTACT_REACH_S
        self._contact_margin = int(np.ceil(reach_s * rate_hz)) + 1
        self._body_end: int | None = None
        self._fed: int | None = None  # downstream stages have the body samples before this index
        self._held_body: list[BodyBlock] = []
        self._held_contacts: list[tuple[str, ContactTable]] = []
        self._bouts_final: list[tuple[int, int, str]] = []  # (start, end, kind) of emitted bouts still needed
        self._n_bouts = 0
        self._last_bout = -1
        self._rows: dict[int, dict[str, Any]] = {}  # contact rows waiting for their side, by ic_index
        self._events_seen = 0
        self._seg_starts: list[int] = []
        self._seg_confidence: list[float] = []
        self.stage_seconds_: dict[str, float] = dict.fromkeys(
            ("frame", "bouts", "running", "walking", "sides", "pelvis", "pipeline"), 0.0
        )

    @property
    def look_ahead_s(self) -> float:
        """The longest input delay before a step row is final: the frame stage's delay, then the later of
        the bout kind (its look-ahead plus one hop) and the contact detectors (look-ahead plus
        :data:`CONTACT_REACH_S`), then the side stage's look-ahead. Strides are final no later than the
        step that closes them.
        """
        bout_s = self.bouts.look_ahead_s + self.settings.bouts.hop_s
        contact_s = self._contact_margin / self.rate_hz
        return self.frame.look_ahead_s + max(bout_s, contact_s) + self.sides.look_ahead_s

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
            outputs.append(self._advance(self._feed_sources(body), final=False))
        return PipelineOutput.concat(outputs) if outputs else PipelineOutput.empty()

    def flush(self) -> PipelineOutput:
        body = self._timed("frame", self.frame.flush)
        bouts = self._feed_sources(body)
        bouts = BoutTable.concat([bouts, self._timed("bouts", self.bouts.flush)])
        self._note_bouts(bouts)
        self._held_contacts.append((RUNNING, self._timed("running", self.running.flush)))
        self._held_contacts.append((WALKING, self._timed("walking", self.walking.flush)))
        return self._advance(bouts, final=True)

    # ------------------------------------------------------------------ internals
    def _timed(self, stage: str, call: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        out = call(*args)
        self.stage_seconds_[stage] += time.perf_counter() - t0
        return out

    def _feed_sources(self, body: BodyBlock) -> BoutTable:
        """Body samples to the bout and contact stages; hold them (and the contacts) for the horizon."""
        if len(body) == 0:
            return BoutTable.empty()
        if self._fed is None:
            self._fed = body.start_index
        self._body_end = body.stop_index
        self._held_body.append(body)
        bouts = self._timed("bouts", self.bouts.update, body)
        self._note_bouts(bouts)
        self._held_contacts.append((RUNNING, self._timed("running", self.running.update, body)))
        self._held_contacts.append((WALKING, self._timed("walking", self.walking.update, body)))
        return bouts

    def _note_bouts(self, bouts: BoutTable) -> None:
        for start, end, kind in zip(
            bouts.start_index.tolist(), bouts.end_index.tolist(), bouts.kind.tolist(), strict=True
        ):
            self._bouts_final.append((start, end, kind))
        self._n_bouts += len(bouts)

    def _horizon(self, final: bool) -> int:
        assert self._body_end is not None and self._fed is not None
        if final:
            return self._body_end
        final_to, _ = _bout_progress(self.bouts)
        return max(self._fed, min(final_to, self._body_end - self._contact_margin))

    def _bout_of(self, index: int, open_bout: tuple[str, int] | None) -> tuple[int, str]:
        """(bout number, kind) of an absolute sample index whose kind is final."""
        first = self._n_bouts - len(self._bouts_final)
        for k, (start, end, kind) in enumerate(self._bouts_final):
            if start <= index < end:
                return first + k, kind
        if open_bout is not None and open_bout[1] <= index:
            return self._n_bouts, open_bout[0]
        return -1, OTHER

    def _advance(self, bouts: BoutTable, *, final: bool) -> PipelineOutput:
        t0 = time.perf_counter()
        events = tuple(self.frame.events_[self._events_seen :])
        self._events_seen = len(self.frame.events_)
        if self._body_end is None or self._fed is None:
            return PipelineOutput(StepTable.empty(), PelvisStrideTable.empty(), bouts, events)
        horizon = self._horizon(final)
        held = concat_body(self._held_body) if self._held_body else self._empty_body(self._fed)
        contacts = self._select_contacts(horizon, held)
        body = self._take_body(horizon, held)
        self.stage_seconds_["pipeline"] += time.perf_counter() - t0
        sides: list[StepSide] = self._timed("sides", self.sides.update, body, contacts.ic_index)
        strides = PelvisStrideTable.empty()
        if self.pelvis is not None:
            strides = self._timed("pelvis", self.pelvis.update, body, contacts)
        if final:
            sides += self._timed("sides", self.sides.flush)
            if self.pelvis is not None:
                strides = PelvisStrideTable.concat([strides, self._timed("pelvis", self.pelvis.flush)])
        t0 = time.perf_counter()
        steps = StepTable.from_rows([self._step_row(side) for side in sides])
        self._forget_bouts()
        self.stage_seconds_["pipeline"] += time.perf_counter() - t0
        return PipelineOutput(steps, strides, bouts, events)

    def _empty_body(self, start: int) -> BodyBlock:
        return BodyBlock(np.empty(0), np.empty((0, 3)), np.empty((0, 3)) if self.has_gyr else None, start)

    def _take_body(self, horizon: int, held: BodyBlock) -> BodyBlock:
        """The held body samples before ``horizon`` (removed from the hold)."""
        cut = horizon - held.start_index
        taken, rest = held.slice(0, cut), held.slice(cut, len(held))
        self._held_body = [rest] if len(rest) else []
        self._fed = horizon
        return taken

    def _select_contacts(self, horizon: int, held: BodyBlock) -> ContactTable:
        """Contacts before the horizon that lie in a bout of their detector's kind, with chain breaks and
        the impact peak from the unfiltered vertical acceleration of ``held`` (see the module docstring)."""
        _, open_bout = _bout_progress(self.bouts)
        kept: list[tuple[int, dict[str, Any]]] = []
        still: list[tuple[str, ContactTable]] = []
        names = [f.name for f in fields(ContactTable)]
        for kind, table in self._held_contacts:
            if len(table) == 0:
                continue
            ready = table.ic_index < horizon
            columns = {name: getattr(table, name).tolist() for name in names}
            for i in np.flatnonzero(ready).tolist():
                row: dict[str, Any] = {name: columns[name][i] for name in names}
                number, bout_kind = self._bout_of(row["ic_index"], open_bout)
                if bout_kind == kind:
                    row["bout"], row["gait"] = number, kind
                    row["impact_g"] = self._impact_g(held, row["ic_index"], row["to_index"])
                    kept.append((row["ic_index"], row))
            if not ready.all():
                rest = ~ready
                still.append((kind, ContactTable(**{name: getattr(table, name)[rest] for name in names})))
        self._held_contacts = still
        rows = []
        for _, row in sorted(kept, key=lambda item: item[0]):
            if row["bout"] != self._last_bout:
                for name in CHAIN_COLUMNS:
                    row[name] = float("nan")
                self._last_bout = row["bout"]
            self._rows[int(row["ic_index"])] = row
            rows.append(row)
        table = ContactTable.from_rows(rows)
        return table

    @staticmethod
    def _impact_g(held: BodyBlock, ic: int, to: int) -> float:
        """Peak vertical acceleration (g) over the samples from IC to toe-off; NaN without a toe-off."""
        if to < ic:
            return float("nan")
        stance = held.acc[ic - held.start_index : to - held.start_index + 1, V]
        return float(stance.max()) / STANDARD_GRAVITY_MS2 if stance.shape[0] else float("nan")

    def _step_row(self, side: StepSide) -> dict[str, Any]:
        row = self._rows.pop(side.index)
        for seg in self.frame.segments_[len(self._seg_starts) :]:
            self._seg_starts.append(seg.start_index)
            self._seg_confidence.append(seg.confidence)
        k = bisect_right(self._seg_starts, side.index) - 1
        return {
            **row,
            "t_s": row["ic_t_s"],
            "side": side.side,
            "side_confidence": side.confidence,
            "p_right": side.p_right,
            "frame_confidence": self._seg_confidence[k] if k >= 0 else 0.0,
        }

    def _forget_bouts(self) -> None:
        """Drop emitted bouts that end before every sample still to be classified."""
        assert self._fed is not None
        while self._bouts_final and self._bouts_final[0][1] <= self._fed:
            self._bouts_final.pop(0)
