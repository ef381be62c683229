"""Activity bouts (running / walking / other), streaming: where the gait metrics may be computed at all.

Why: the running contact rules find "steps" in fast walking at the waist (SisFall walking quickly: humps
of 1.5 g between 0.4 g troughs), and no step, cadence or contact figure means anything across a change of
gait, a pause or a hole in the data. This stage cuts the stream into bouts of one kind; the metrics stages'
results are then read bout by bout (:func:`within_bouts`).

Cues (vertical acceleration ``a_v`` in g, including gravity; a window of ``window_s`` per hop of
``hop_s``):

- *movement*: the standard deviation of ``a_v``; below ``still_sd_g`` the wearer stands or sits;
- *periodicity*: the largest correlation coefficient of ``a_v`` with itself shifted by one step, over
  step frequencies ``step_band_hz`` (1.3–3.5 Hz: slow walking to fast running; searched on cell sums,
  see *Speed*); gait is periodic, fidgeting and transitions are not (below ``min_periodicity``);
- *flight*: the fraction of the window in which ``a_v`` (moving average of ``flight_smooth_s``) is below
  ``flight_g``. Only in flight is the trunk nearly weightless; in walking one foot is always on the ground
  and ``a_v`` stays above ≈ 0.3 g even at the waist in fast walking. At or above ``running_flight_fraction``
  the window is running.

Each hop gets the kind of its own window (centred on the hop; clipped at the stream's ends, and "other"
when fewer than ``min_window_s`` remain). Hysteresis: the bout kind changes only when a new kind holds
for ``min_bout_s`` of consecutive hops; the new bout then starts where that run started, and a shorter
run is absorbed into the bout around it. So a bout of a new kind is at least ``min_bout_s`` long
(the first and last bouts of a stream, or of a stretch between long gaps, may be shorter).

Gaps (a sample interval longer than :data:`imu.constants.GAP_FACTOR` nominal periods), by length of the
interval between the samples around the hole:

- up to ``max_short_gap_s`` (0.1 s: a few lost packets): the bout goes on. The samples keep their real
  time stamps (nothing is spread or filled in), and the contact stages time every event from them. Why
  0.1 s is safe: the shortest gait phases are ≈ 0.1 s (walking double support, running flight) and a
  step lasts ≥ 0.25 s, so such a hole hides at most one event, never a whole step; an event at the hole
  is timed at a real sample next to it (error ≤ the gap, the walking matching tolerance), and the
  detectors' filters (0.2–0.6 s FIR) see a shift of a few taps, a bounded and local effect. voisard2023
  loses single packets all the time (6009 holes in 52 trials, all but 9 of them ≤ 0.1 s): ending a bout at
  each one blanked the step time after every lost packet.
- longer: the bout ends; the next bout starts at the first sample after the gap with the same kind, so no
  step-to-step figure straddles the hole. Up to ``max_bridged_gap_s`` the classification goes on; a
  longer gap starts it afresh (new hop grid, hysteresis state "other"), as the stream's start does.

Hops start at absolute sample indices ``start + k · hop`` (``start``: the first sample of the stream or
after a long gap), so results do not depend on how the stream is cut: bit-identical for any chunking.

Look-ahead: a bout is emitted when its end is final, at most ``min_bout_s + (window_s - hop_s) / 2`` of
input after its last sample (3.0 s with the defaults): the window reaches ``(window_s - hop_s) / 2``
beyond its hop, and a change is confirmed ``min_bout_s`` after it began.

Speed, and the same bits for any chunking
=========================================
A window is five hops and shares four of them with the next, so the cues are read from sums that every
sample enters once: prefix sums of ``a_v`` and ``a_v²`` (movement), of the samples whose moving sum is below
the flight threshold (flight), and, per step lag, of the lagged products of *cells* (sums of ``cell``
consecutive samples, ``cell`` the largest divisor of the hop and the reach that keeps at least
``periodicity_rate_hz`` cells per second: 2 samples at 208 Hz). A window's correlation at a lag is then
its product sum minus the mean's terms (``Σ (x_i - m)(x_j - m)`` expanded), a handful of differences of
prefix sums instead of a spectrum per window. The periodicity on ≈ 100 Hz cells matches the one on every
sample closely: the lag grid is 10 ms against step periods of ≥ 286 ms (checked on the benchmarks: no
SisFall, voisard2023 or alcantara2022 figure dropped; 50 Hz cells lost 0.6 points of elderly walking
windows, so they were not taken).

Prefix sums of floats would round differently for different chunkings, and their rounding would grow
with the stream. So ``a_v`` is rounded to multiples of 2**-15 g (clipped at ±32 g) and every sum is an
exact int64 sum: a window's figures are exact integers whatever else the call held, then turned into the
cues in floating point window by window (bit-identical for any chunking; a wrap-around of a prefix sum
cancels in the differences).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from imu.constants import GAP_FACTOR, STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.gait.body_block import BodyBlock, V
from imu.gait.column_table import ColumnTable
from imu.gait.contact_table import ContactTable
from imu.samples import FloatArray

INPUT_LIMIT_BITS: Final = 5
INPUT_LIMIT: Final = 2.0**INPUT_LIMIT_BITS
"""``a_v`` is clipped to ± this (g) before the exact sums (beyond any trunk sensor's range)."""
INPUT_BITS: Final = 15
"""``a_v`` is rounded to multiples of 2**-INPUT_BITS g (3e-5 g, far below any accelerometer's resolution)
before the exact sums; fewer bits at very high rates keep every window's sum within int64."""
_WINDOWS_PER_PASS: Final = 256
"""Windows evaluated together (bounds the memory of one call on a long recording)."""

RUNNING: Final = "running"
WALKING: Final = "walking"
OTHER: Final = "other"
BOUT_KINDS: Final = (RUNNING, WALKING, OTHER)
"""Bout kinds: ``other`` is standing, sitting, or movement without a steady gait."""


# ---------------------------------------------------------------------------------------------- the table
@dataclass(frozen=True, eq=False)
class BoutTable(ColumnTable):
    """One row per bout, in time order: samples ``[start_index, end_index)`` are of one ``kind``.

    ``start_t_s`` is the time of the first sample, ``end_t_s`` the time of the last one (inside the bout).
    ``ends_at_gap`` is True when the bout ends because samples are missing after it.
    """

    DTYPES: ClassVar[dict[str, Any]] = {
        "start_index": np.int64,
        "end_index": np.int64,
        "start_t_s": np.float64,
        "end_t_s": np.float64,
        "kind": "<U7",
        "ends_at_gap": np.bool_,
    }
    TEXT: ClassVar[tuple[str, ...]] = ("kind",)

    start_index: NDArray[np.int64]
    end_index: NDArray[np.int64]
    start_t_s: NDArray[np.float64]
    end_t_s: NDArray[np.float64]
    kind: NDArray[np.str_]
    ends_at_gap: NDArray[np.bool_]

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = sorted(set(self.kind.tolist()) - set(BOUT_KINDS))
        if bad:
            raise InputError("unknown bout kind", expected=" / ".join(BOUT_KINDS), found=repr(bad[0]))

    @classmethod
    def from_tuples(cls, rows: Sequence[tuple[int, int, float, float, str, bool]]) -> BoutTable:
        """Build from ``(start_index, end_index, start_t_s, end_t_s, kind, ends_at_gap)`` tuples."""
        if not rows:
            return cls.empty()
        columns = list(zip(*rows, strict=True))
        return cls(*(np.array(c) for c in columns))

    @property
    def duration_s(self) -> FloatArray:
        """Time from the first to the last sample of each bout, s."""
        return self.end_t_s - self.start_t_s

    def kind_at(self, index: NDArray[np.int64]) -> NDArray[np.str_]:
        """The bout kind of each absolute sample index (``other`` outside every bout)."""
        index = np.asarray(index, dtype=np.int64)
        k = np.searchsorted(self.end_index, index, side="right")
        inside = (k < len(self)) & (self.start_index[np.minimum(k, max(len(self) - 1, 0))] <= index)
        out = np.full(index.shape, OTHER, dtype="<U7")
        out[inside] = self.kind[k[inside]]
        return out


def within_bouts(contacts: ContactTable, bouts: BoutTable, kind: str) -> ContactTable:
    """The contacts whose IC lies in a bout of ``kind``; step-to-step figures never span two bouts.

    The first contact of each bout loses its ``step_time_s``, ``cadence_spm`` and ``flight_time_s``
    (they would reach back across a change of gait or a gap).
    """
    if len(contacts) == 0 or len(bouts) == 0:
        return ContactTable.empty()
    k = np.searchsorted(bouts.end_index, contacts.ic_index, side="right")
    k_ok = np.minimum(k, len(bouts) - 1)
    keep = (k < len(bouts)) & (bouts.start_index[k_ok] <= contacts.ic_index) & (bouts.kind[k_ok] == kind)
    bout_of = k[keep]
    first = np.ones(bout_of.shape[0], dtype=bool)
    first[1:] = bout_of[1:] != bout_of[:-1]
    columns = {f.name: getattr(contacts, f.name)[keep].copy() for f in fields(ContactTable)}
    for name in ("step_time_s", "cadence_spm", "flight_time_s"):
        columns[name][first] = np.nan
    return ContactTable(**columns)


# ---------------------------------------------------------------------------------------------- the rule
@dataclass(frozen=True)
class BoutSettings:
    """Rule parameters; defaults in physical units, tuned on SisFall SA01–SA06 (see the module docstring)."""

    hop_s: float = 0.5
    window_s: float = 2.5
    min_window_s: float = 1.5
    still_sd_g: float = 0.04
    step_band_hz: tuple[float, float] = (1.3, 3.5)
    min_periodicity: float = 0.3
    flight_smooth_s: float = 0.05
    flight_g: float = 0.3
    running_flight_fraction: float = 0.04
    min_bout_s: float = 2.0
    max_short_gap_s: float = 0.1
    max_bridged_gap_s: float = 0.5
    periodicity_rate_hz: float = 100.0
    """The periodicity is searched on sums of consecutive samples, at least this many per second (≥ 14 per
    step at 3.5 Hz; module docstring, *Speed*)."""


@dataclass(frozen=True)
class WindowFeatures:
    """What windows show: movement (g), step periodicity (−1…1), fraction of time in flight; one value per
    window (arrays of equal length)."""

    sd_g: FloatArray
    periodicity: FloatArray
    flight_fraction: FloatArray


def cell_samples(hop: int, reach: int, rate_hz: float, settings: BoutSettings) -> int:
    """Samples summed into one cell of the periodicity search: the largest divisor of both the hop and the
    reach (so every window starts on a cell boundary) that keeps at least ``periodicity_rate_hz`` cells
    per second."""
    common = math.gcd(hop, reach)
    return max(
        d
        for d in range(1, common + 1)
        if common % d == 0 and (d == 1 or rate_hz / d >= settings.periodicity_rate_hz)
    )


def input_bits(window: int, cell: int) -> int:
    """Bits kept below 1 g by the rounding: no sum over a window can leave int64 (2**62, with margin)."""
    return min(INPUT_BITS, (62 - math.ceil(math.log2(max(2, window * cell)))) // 2 - INPUT_LIMIT_BITS)


def window_features(
    acc_v_g: FloatArray,
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    rate_hz: float,
    settings: BoutSettings,
    cell: int = 1,
) -> WindowFeatures:
    """The cues of the windows ``acc_v_g[lo:hi]`` of vertical acceleration (g); cells of ``cell`` samples
    start at ``acc_v_g[0]``.

    Every figure of a window is a function of exact integer sums over its own samples (module docstring,
    *Speed*), so it does not depend on what else ``acc_v_g`` holds: the stage stays bit-identical for any
    chunking (tests/gait/test_bouts.py checks random chunkings).
    """
    x = np.asarray(acc_v_g, dtype=np.float64)
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    n = hi - lo
    bits = input_bits(round(settings.window_s * rate_hz) + 2, cell)  # the same for every window
    finite = np.isfinite(x)
    q = np.rint(np.clip(np.where(finite, x, 0.0), -INPUT_LIMIT, INPUT_LIMIT) * 2.0**bits).astype(np.int64)
    s1, s2 = _prefix(q), _prefix(q * q)
    mean = (s1[hi] - s1[lo]) / n
    sd_g = np.sqrt(np.maximum((s2[hi] - s2[lo]) / n - mean * mean, 0.0)) * 2.0**-bits
    # flight: moving sums over flight_smooth_s below flight_g (as a mean), counted where the sum fits
    m = max(1, round(settings.flight_smooth_s * rate_hz))
    low = _prefix(((s1[m:] - s1[:-m]) < settings.flight_g * m * 2.0**bits).astype(np.int64))
    top = np.maximum(hi - m + 1, lo)
    flight = (low[top] - low[lo]) / np.maximum(top - lo, 1)
    periodicity = _periodicity(q, lo, hi, rate_hz, settings, cell)
    if not finite.all():  # a non-finite sample makes the window's figures meaningless
        bad = _prefix((~finite).astype(np.int64))
        broken = (bad[hi] - bad[lo]) > 0
        sd_g[broken], periodicity[broken], flight[broken] = np.nan, -1.0, np.nan
    return WindowFeatures(sd_g, periodicity, flight)


def _prefix(v: NDArray[np.int64]) -> NDArray[np.int64]:
    """``out[i] = v[0] + … + v[i - 1]`` along axis 0 (int64; a wrap-around cancels in every difference)."""
    out = np.zeros((v.shape[0] + 1, *v.shape[1:]), dtype=np.int64)
    np.cumsum(v, axis=0, out=out[1:])
    return out


def _periodicity(
    q: NDArray[np.int64],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    rate_hz: float,
    settings: BoutSettings,
    cell: int,
) -> FloatArray:
    """The largest autocorrelation coefficient over step lags, on cell sums, of each window."""
    k = q.shape[0] // cell
    c = q[0 : k * cell : cell].copy()  # cell sums, added in a fixed order (exact anyway: integers)
    for i in range(1, cell):
        c += q[i : k * cell : cell]
    rate_c = rate_hz / cell
    lag_lo = max(1, math.ceil(rate_c / settings.step_band_hz[1]))
    lag_hi = math.floor(rate_c / settings.step_band_hz[0])
    out = np.full(lo.shape[0], -1.0)
    if lag_hi < lag_lo or c.shape[0] == 0:
        return out
    lags = np.arange(lag_lo, lag_hi + 1)
    # products c[k - lag] · c[k] for every lag (rows) and cell k (zero before the first cell)
    padded = np.concatenate([np.zeros(lag_hi, dtype=np.int64), c])
    earlier = sliding_window_view(padded, c.shape[0])[lag_hi - lag_lo :: -1]  # row of lag l: c[k - l]
    summed = earlier * c  # then summed in place: a second array this large would cost page faults per call
    np.cumsum(summed, axis=1, out=summed)  # summed[row, k]: the products of cells up to k (inclusive)
    c1, c2 = _prefix(c), _prefix(c * c)
    j0 = (-(-lo // cell))[:, None]  # the windows' whole cells [j0, j1)
    j1 = (hi // cell)[:, None]
    count = j1 - j0
    valid = lags[None, :] <= count - 2
    head_end = np.maximum(j1 - lags, j0)  # cells [j0, j1 - lag) meet cells [j0 + lag, j1)
    tail_start = np.minimum(j0 + lags, j1)
    row = np.arange(lags.shape[0])[None, :]
    cross = (summed[row, j1 - 1] - summed[row, tail_start - 1]).astype(np.float64)  # both ≥ 1 here
    head_sum = (c1[head_end] - c1[j0]).astype(np.float64)
    tail_sum = (c1[j1] - c1[tail_start]).astype(np.float64)
    head_sq = (c2[head_end] - c2[j0]).astype(np.float64)
    tail_sq = (c2[j1] - c2[tail_start]).astype(np.float64)
    pairs = (count - lags).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[j1] - c1[j0]) / count
        offset = pairs * (mean * mean)
        cov = cross - mean * (head_sum + tail_sum) + offset
        head = head_sq - 2.0 * mean * head_sum + offset
        tail = tail_sq - 2.0 * mean * tail_sum + offset
        r = cov / np.sqrt(head * tail)
    best = np.where(valid & ~np.isnan(r), r, -np.inf).max(axis=1)
    return np.where(best > -np.inf, best, out)


def window_kind(features: WindowFeatures, settings: BoutSettings) -> NDArray[np.str_]:
    """The kind each window shows on its own (before hysteresis)."""
    kind = np.where(features.flight_fraction >= settings.running_flight_fraction, RUNNING, WALKING)
    still = (features.sd_g < settings.still_sd_g) | (features.periodicity < settings.min_periodicity)
    return np.where(still, OTHER, kind).astype("<U7")


# ---------------------------------------------------------------------------------------------- the stage
class ActivityBouts:
    """Streaming bout stage: ``update(BodyBlock) -> BoutTable`` (bouts now final), then ``flush()``."""

    def __init__(self, rate_hz: float, settings: BoutSettings | None = None) -> None:
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise InputError("sampling rate must be positive", expected="rate_hz > 0", found=f"{rate_hz!r}")
        self.settings = st = settings or BoutSettings()
        self.rate_hz = float(rate_hz)
        self._hop = max(1, round(st.hop_s * rate_hz))
        self._reach = max(0, round((st.window_s - st.hop_s) / 2 * rate_hz))
        self._min_window = max(2, round(st.min_window_s * rate_hz))
        self._cell = cell_samples(self._hop, self._reach, self.rate_hz, st)
        self._confirm = max(1, round(st.min_bout_s / st.hop_s))
        # a hole ends the bout beyond this interval (1 µs slack for time stamps built by float division)
        self._split_s = max(GAP_FACTOR / rate_hz, st.max_short_gap_s + 1e-6)
        # received samples (absolute indices [_base, _end)) and the stretch (segment) they belong to
        self._base = 0
        self._end: int | None = None
        self._x: FloatArray = np.empty(0)
        self._t: FloatArray = np.empty(0)
        self._seg_start = 0
        self._next_hop = 0
        self._gaps: list[int] = []  # first sample after each short gap not yet passed by a final bout
        # hysteresis: the kind in force, the pending run of another kind (kind, first sample, hops)
        self._state = OTHER
        self._pending: tuple[str, int, int] | None = None
        self._final_to = 0  # samples before this have a final kind
        # the open bout: (kind, first sample, its time)
        self._open: tuple[str, int, float] | None = None
        self.progress_: list[tuple[int, int, bool]] = []
        """What the last ``update`` / ``flush`` decided, hop by hop: ``(input end, final_through_index,
        steady)`` after each hop classified (and after a segment is finished at a long gap), where *input
        end* is the smallest ``stop_index`` of the input at which the stage reaches that state (whatever
        the chunking) and *steady* says no run of another kind is pending. Read-only for consumers that
        must know the kind in force at a given point of the stream (:mod:`imu.gait.pipeline`)."""

    @property
    def final_through_index(self) -> int:
        """Samples before this absolute index have a final bout kind (they will not change any more)."""
        return self._final_to

    @property
    def open_bout(self) -> tuple[str, int] | None:
        """The bout in progress, ``(kind, absolute index of its first sample)``, or None: its kind is final
        up to :attr:`final_through_index`, but it is emitted only when it ends (a later row of the table)."""
        return None if self._open is None else (self._open[0], self._open[1])

    @property
    def gap_split_s(self) -> float:
        """A sample interval longer than this ends the bout (a hole of more than a few lost packets)."""
        return self._split_s

    @property
    def look_ahead_s(self) -> float:
        """Input needed after a bout's last sample before the bout is emitted (at most)."""
        return self._confirm * self._hop / self.rate_hz + self._reach / self.rate_hz

    # ------------------------------------------------------------------ stream
    def update(self, block: BodyBlock) -> BoutTable:
        n = len(block)
        self.progress_ = []
        if n == 0:
            return BoutTable.empty()
        if self._end is not None and block.start_index != self._end:
            raise InputError(
                "blocks must be contiguous",
                expected=f"start_index {self._end}",
                found=f"start_index {block.start_index}",
            )
        t = block.t_s
        x = block.acc[:, V] / STANDARD_GRAVITY_MS2
        prev_t = self._t[-1:] if self._t.shape[0] else t[:0]
        if prev_t.shape[0] and t[0] <= prev_t[0]:
            raise InputError(
                "time must increase strictly across blocks", found=f"{t[0]!r} after {prev_t[0]!r}"
            )
        dt = np.diff(np.concatenate([prev_t, t]))
        offset = 1 - prev_t.shape[0]  # dt[k] is the interval before block sample k + offset
        rows: list[tuple[int, int, float, float, str, bool]] = []
        if self._end is None:
            self._base = self._seg_start = self._final_to = block.start_index
            self._next_hop = 0
        cut = 0
        for k in np.flatnonzero(dt > self._split_s):
            i = int(k) + offset  # block sample after the gap
            self._append(t[cut:i], x[cut:i], block.start_index + cut)
            cut = i
            gap_start = block.start_index + i
            if dt[k] > self.settings.max_bridged_gap_s:
                rows += self._finish_segment()
                self._seg_start = self._final_to = self._base = gap_start
                self._x, self._t = np.empty(0), np.empty(0)
                self._next_hop = 0
            else:
                self._gaps.append(gap_start)
        self._append(t[cut:], x[cut:], block.start_index + cut)
        rows += self._advance(final=False)
        return BoutTable.from_tuples(rows)

    def flush(self) -> BoutTable:
        self.progress_ = []
        if self._end is None:
            return BoutTable.empty()
        return BoutTable.from_tuples(self._finish_segment())

    def _append(self, t: FloatArray, x: FloatArray, start: int) -> None:
        if t.shape[0] == 0:
            return
        self._t = np.concatenate([self._t, t])
        self._x = np.concatenate([self._x, x])
        self._end = start + t.shape[0]

    # ------------------------------------------------------------------ hops → kinds → bouts
    def _finish_segment(self) -> list[tuple[int, int, float, float, str, bool]]:
        rows = self._advance(final=True)
        assert self._end is not None
        self._pending = None  # a run too short to confirm is absorbed into the kind in force
        rows += self._mark_final(self._end)
        rows += self._close(self._end, ends_at_gap=True)
        self._state = OTHER
        self._gaps = []
        self.progress_.append((self._end + 1, self._final_to, True))
        return rows

    def _advance(self, *, final: bool) -> list[tuple[int, int, float, float, str, bool]]:
        assert self._end is not None
        first_hop = self._seg_start + self._next_hop * self._hop
        if final:  # every hop that has a sample, the last one partial
            count = max(0, -(-(self._end - first_hop) // self._hop))
        else:  # every hop whose window the input covers
            count = max(0, (self._end - self._reach - first_hop) // self._hop)
        rows: list[tuple[int, int, float, float, str, bool]] = []
        if count:
            first = first_hop + self._hop * np.arange(count, dtype=np.int64)
            last = np.minimum(first + self._hop, self._end)
            lo = np.maximum(first - self._reach, self._seg_start)
            hi = np.minimum(last + self._reach, self._end)
            # a hop is classified once the input reaches its window's end (or at a segment's finish)
            at = np.minimum(first + self._hop + self._reach, self._end + 1)
            for a, b, kind, reached in zip(
                first.tolist(), last.tolist(), self._kinds(lo, hi), at.tolist(), strict=True
            ):
                steady = self._pending is None and kind == self._state
                if steady and self._open is not None and self._open[0] == kind and not self._gaps:
                    self._final_to = max(self._final_to, b)  # the bout in force goes on
                else:
                    rows += self._hysteresis(kind, a, b)
                self.progress_.append((reached, self._final_to, self._pending is None))
            self._next_hop += count
        self._trim()
        return rows

    def _kinds(self, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> list[str]:
        """The window kind of each hop (windows ``[lo, hi)``; those shorter than ``min_window_s`` are
        "other"). Windows start on cell boundaries (``lo - seg_start`` is a multiple of the cell)."""
        kinds = np.full(lo.shape[0], OTHER, dtype="<U7")
        for g in range(0, lo.shape[0], _WINDOWS_PER_PASS):
            length = hi[g : g + _WINDOWS_PER_PASS] - lo[g : g + _WINDOWS_PER_PASS]
            pick = g + np.flatnonzero(length >= self._min_window)
            if pick.shape[0] == 0:
                continue
            start, stop = int(lo[pick[0]]), int(hi[pick].max())
            span = self._x[start - self._base : stop - self._base]
            features = window_features(
                span, lo[pick] - start, hi[pick] - start, self.rate_hz, self.settings, self._cell
            )
            kinds[pick] = window_kind(features, self.settings)
        return kinds.tolist()

    def _hysteresis(self, kind: str, a: int, b: int) -> list[tuple[int, int, float, float, str, bool]]:
        """Feed one hop's kind; returns bouts closed by what became final."""
        rows: list[tuple[int, int, float, float, str, bool]] = []
        if self._pending is not None and kind != self._pending[0]:
            rows += self._mark_final(a)  # the short run is absorbed into the kind in force
            self._pending = None
        if self._pending is None:
            if kind == self._state:
                return rows + self._mark_final(b)
            self._pending = (kind, a, 1)
        else:
            self._pending = (kind, self._pending[1], self._pending[2] + 1)
        pending_kind, start, hops = self._pending
        if hops >= self._confirm:
            rows += self._mark_final(start)
            self._state = pending_kind
            self._pending = None
            rows += self._mark_final(b)
        return rows

    def _mark_final(self, to: int) -> list[tuple[int, int, float, float, str, bool]]:
        """Samples up to ``to`` now have the kind in force: extend or open the bout, cutting at gaps."""
        rows: list[tuple[int, int, float, float, str, bool]] = []
        if to <= self._final_to:
            return rows
        if self._open is not None and self._open[0] != self._state:
            rows += self._close(self._final_to, ends_at_gap=False)
        while self._gaps and self._gaps[0] <= to:
            g = self._gaps.pop(0)
            if self._open is None and g > self._final_to:
                self._open = (self._state, self._final_to, self._time(self._final_to))
            if self._open is not None:
                rows += self._close(g, ends_at_gap=True)
            self._open = (self._state, g, self._time(g))
        if self._open is None:
            self._open = (self._state, self._final_to, self._time(self._final_to))
        self._final_to = to
        return rows

    def _close(self, end: int, *, ends_at_gap: bool) -> list[tuple[int, int, float, float, str, bool]]:
        if self._open is None:
            return []
        kind, start, start_t = self._open
        self._open = None
        if end <= start:
            return []
        return [(start, end, start_t, self._time(end - 1), kind, ends_at_gap)]

    def _time(self, index: int) -> float:
        return float(self._t[index - self._base])

    def _trim(self) -> None:
        """Keep what the next window and any bout still open may need."""
        keep = self._seg_start + self._next_hop * self._hop - self._reach
        keep = min(keep, self._final_to - 1)
        if self._pending is not None:
            keep = min(keep, self._pending[1])
        drop = keep - self._base
        if drop > 0:
            self._x, self._t = self._x[drop:], self._t[drop:]
            self._base = keep
