"""Running contacts (initial contact, toe-off) from a lower-back sensor's vertical acceleration, streaming.

Physics used: in running the trunk is nearly in free fall during flight (vertical acceleration ≈ 0 g)
and carries the body's weight and more during stance (1.5–4 g, with an impact transient in the first
tens of ms). A step is therefore a hump of vertical acceleration between two flight floors. Every rule
is relative to that step's own hump (its floors and its peak), not an absolute level, because absolute
thresholds shift event times with speed and slope (FINDINGS.md: −15 to +13 ms).

Method (all on the vertical acceleration in g, including gravity):

1. Three linear-phase FIR low-passes of ``filter_length_s`` (so a fixed delay of half that):
   ``lowpass_hz`` (the IC and impact signal ``x``; works the same on raw 100–1000 Hz data and on
   pre-filtered data), ``smooth_hz`` (the stance signal ``s``, one hump per contact) and
   ``to_lowpass_hz`` (the toe-off signal: the late-stance fall carries pelvis wobble that a lower
   cut-off removes; on the tuning trials 10 Hz halved the p95 toe-off error of 20 Hz).
2. Stance anchor ``p``: ``s[p]`` is the largest value within ± ``peak_window_s`` and at least
   ``min_stance_g``.
3. Flight floors: the minimum of ``x`` within ``search_s`` before ``p`` (and after the previous toe-off)
   and within ``search_s`` after ``p``. A hump whose floors are not both below ``max_flight_g`` is no
   running step (walking never leaves the ground) and is skipped.
4. IC: the last upward crossing, before ``p``, of ``floor_before + ic_fraction · (peak − floor_before)``.
5. TO: on the toe-off signal, the last downward crossing, before the floor after ``p``, of
   ``floor_after + to_fraction · (peak − floor_after)``, plus ``to_lag_s``: the trunk's vertical
   acceleration falls ahead of the force (the pelvis rotates over the stance leg late in stance), so a
   level crossing earlier on the steep fall, shifted by a fixed lag, times TO more tightly than a
   crossing near the floor where the fall flattens (tuned on the alcantara2022 even trials only).
   Second cue, the start of flight: the first time after ``p`` that ``x`` falls below ``flight_level_g``
   (the trunk becomes weightless only once both feet are off), plus ``flight_lag_s``. When the step
   has such a flight, TO is the mean of the two cues: their errors depend differently on slope and
   speed, so the mean cut the tuning half's p95 TO error from 20 to 15 ms. Without one (a raw sensor's
   floor may stay above the level), TO is the level crossing alone. The AP propulsion peak and its fall
   were tried too and timed TO worse on the tuning half (p95 > 25 ms on this biaxial, slope-tilted sensor).

6. Impact and loading rate from the *unfiltered* vertical acceleration (the 20 Hz signal flattens a
   heel-strike transient of ≈ 7 ms: on the simulated runner the loading rate read 55 % low on it):
   ``impact_g`` is the highest raw sample from IC to TO (as :mod:`imu.gait.pipeline` reads it),
   ``loading_rate_g_s`` the mean slope between the first upward crossings of 20 % and 80 % of the way
   from the flight floor to that peak (see :meth:`RunningContacts._impact`). On the simulated 60-min
   run at 208 Hz it reads 12.7 % below the simulator's truth (median per step), and 11.8 % of that is
   already there on the simulator's noise-free vertical force as sampled (anti-alias filter and 4.8 ms
   steps against a 7 ms transient), before any rotation: the body-frame projection costs ≈ 1 %
   (tests/gait/test_running.py). The sampled edge is what any rule on these samples sees; a correction
   towards the 0.2 ms truth would be fitted to the simulator's pulse shape, so none is applied.

Speed: every anchor of a block is measured at once on a matrix of windows around the anchors; the
chaining (a floor search starts after the previous toe-off; step and flight times) is vectorised too.

Look-ahead: a contact is committed once the filtered signal reaches ``search_s`` beyond its stance
anchor, i.e. ``search_s + filter_length_s / 2`` of input after the anchor (0.35 s with the defaults;
the anchor is mid-stance, so TO figures are final about 0.25–0.3 s after TO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

from imu.constants import STANDARD_GRAVITY_MS2
from imu.gait.body_block import BodyBlock, V
from imu.gait.contact_table import ContactTable
from imu.gait.signal_buffer import IntArray, SignalBuffer
from imu.samples import FloatArray

X, S, T = 0, 1, 2
"""Channels of the signal buffer: the IC/impact signal, the stance signal and the toe-off signal."""


@dataclass(frozen=True)
class RunningContactSettings:
    """Rule parameters; defaults in physical units (see the module docstring for each rule)."""

    lowpass_hz: float = 20.0
    smooth_hz: float = 5.0
    to_lowpass_hz: float = 10.0
    filter_length_s: float = 0.2
    peak_window_s: float = 0.15
    search_s: float = 0.25
    min_stance_g: float = 1.2
    max_flight_g: float = 0.6
    ic_fraction: float = 0.1
    to_fraction: float = 0.4
    to_lag_s: float = 0.04
    flight_level_g: float = 0.05
    flight_lag_s: float = -0.02
    max_step_s: float = 0.6
    """Steps longer than this break the chain: flight and step time of the next contact are NaN."""


class RunningContacts:
    """Streaming running-contact detector: ``update(BodyBlock) -> ContactTable``, then ``flush()``."""

    def __init__(self, rate_hz: float, settings: RunningContactSettings | None = None) -> None:
        self.settings = settings or RunningContactSettings()
        st = self.settings
        self.rate_hz = float(rate_hz)
        self._buf = SignalBuffer(
            (st.lowpass_hz, st.smooth_hz, st.to_lowpass_hz), rate_hz, st.filter_length_s, keep_raw=True
        )
        self._w = max(1, round(st.peak_window_s * rate_hz))
        self._search = max(2, round(st.search_s * rate_hz))
        # raw samples a toe-off may lie beyond the search span (its lag), read for the impact peak
        self._to_reach = int(np.ceil(max(st.to_lag_s, 0.0) * rate_hz)) + 2
        # ... which must have arrived when the contact is committed (the filter's delay usually covers it)
        self._raw_wait = max(0, self._to_reach - self._buf.delay_samples)
        self._next_anchor: int | None = None
        self._prev: tuple[float, float, float] | None = None  # (ic_t_s, to_t_s, to_pos) of the last contact

    @property
    def look_ahead_s(self) -> float:
        """Input needed after a stance anchor before its contact is committed."""
        return (self._search + self._raw_wait + self._buf.delay_samples) / self.rate_hz

    @property
    def ic_reach_samples(self) -> int:
        """Once the input holds sample ``i + ic_reach_samples - 1``, every contact whose IC is at or before
        ``i`` has been emitted: an IC lies at most ``search_s`` before its stance anchor, and an anchor is
        committed :attr:`look_ahead_s` of input after it (read-only; for consumers that merge contacts)."""
        return 2 * self._search + self._raw_wait + self._buf.delay_samples + 1

    def update(self, block: BodyBlock) -> ContactTable:
        self._buf.push(block.t_s, block.acc[:, V] / STANDARD_GRAVITY_MS2, block.start_index)
        return self._commit(final=False)

    def flush(self) -> ContactTable:
        self._buf.finish()
        return self._commit(final=True)

    # ------------------------------------------------------------------ detection
    def _commit(self, *, final: bool) -> ContactTable:
        buf = self._buf
        if buf.origin is None:
            return ContactTable.empty()
        if self._next_anchor is None:
            self._next_anchor = buf.origin
        # An anchor is decidable once its ± peak window is in; measurable once its search span is in.
        need = self._w if final else self._search + self._raw_wait
        end = buf.end
        hi = end if final else end - need
        anchors = buf.local_maxima(S, self._next_anchor, hi, self._w, self.settings.min_stance_g)
        table = self._contacts(anchors, end) if anchors.shape[0] else ContactTable.empty()
        if anchors.shape[0]:
            self._next_anchor = int(anchors[-1]) + 1
        if hi > self._next_anchor:
            self._next_anchor = hi
        buf.trim(self._next_anchor - self._search - self._w - 2)
        return table

    def _contacts(self, anchors: IntArray, end: int) -> ContactTable:
        """Measure every anchor at once, then chain them in order.

        A contact's search for its flight floor starts no earlier than the previous contact's toe-off, a
        sequential dependency. All anchors are measured first with the search cut only by the buffer;
        the result stands whenever the floor found lies after the previous toe-off (the minimum of a
        window that also contains it). The few anchors where it does not are measured again with the cut
        search, all at once, and since that can change which contacts exist (and so which toe-off the next
        one's search starts after), until nothing changes: the same contacts as walking them one by one.
        """
        n = self._search
        start = self._buf.start or 0
        p = anchors
        lo = np.maximum(p - n, start)
        first = self._measure(p, lo, end)
        m: dict[str, NDArray[Any]] = dict(first)  # an array is copied when first changed
        cut = np.full(p.shape[0], -1)  # the cut search start each anchor is measured with now (-1: none)
        rows = np.arange(p.shape[0])
        while True:
            # the previous contact of each anchor: the last one before it that is a contact
            prev = np.maximum.accumulate(np.where(m["ok"], rows, -1))
            prev = np.concatenate([[-1], prev[:-1]])
            prev_to = m["to_pos"][np.maximum(prev, 0)]
            has_prev = prev >= 0
            if self._prev is not None:
                prev_to = np.where(has_prev, prev_to, self._prev[2])
                has_prev[:] = True
            lo_cut = np.maximum(np.maximum(p - n, np.ceil(prev_to)), start)
            lo_cut = np.where(has_prev, lo_cut, lo).astype(np.int64)
            need = has_prev & (lo_cut > lo) & ((first["floor_at"] < lo_cut) | (p + 1 - lo_cut < 2))
            want = np.where(need, lo_cut, -1)
            change = np.flatnonzero(want != cut)
            if change.shape[0] == 0:
                break
            again = change[want[change] >= 0]
            back = change[want[change] < 0]
            remeasured = self._measure(p[again], want[again], end) if again.shape[0] else first
            for key in m:
                if m[key] is first[key]:
                    m[key] = m[key].copy()
                m[key][back] = first[key][back]
                if again.shape[0]:
                    m[key][again] = remeasured[key]
            cut[change] = want[change]
        k = np.flatnonzero(m["ok"])
        if k.shape[0] == 0:
            return ContactTable.empty()
        ic_t, to_t = m["ic_t_s"][k], m["to_t_s"][k]
        nan = np.array([np.nan])
        prev_ic = np.concatenate([[self._prev[0]] if self._prev is not None else nan, ic_t[:-1]])
        prev_to = np.concatenate([[self._prev[1]] if self._prev is not None else nan, to_t[:-1]])
        chained = ic_t - prev_ic <= self.settings.max_step_s  # False after no contact (NaN)
        step_s = np.where(chained, ic_t - prev_ic, np.nan)
        flight_s = np.where(chained, ic_t - prev_to, np.nan)
        self._prev = (float(ic_t[-1]), float(to_t[-1]), float(m["to_pos"][k[-1]]))
        return ContactTable(
            ic_index=m["ic_index"][k],
            ic_t_s=ic_t,
            to_index=m["to_index"][k],
            to_t_s=to_t,
            contact_time_s=to_t - ic_t,
            flight_time_s=flight_s,
            step_time_s=step_s,
            cadence_spm=60.0 / step_s,
            impact_g=m["impact_g"][k],
            loading_rate_g_s=m["loading_rate_g_s"][k],
        )

    def _measure(self, p: IntArray, lo: IntArray, end: int) -> dict[str, FloatArray]:
        """The rules of the module docstring for anchors ``p`` whose floor search starts at ``lo``.

        Windows of ``2·search + 1`` samples centred on each anchor (column ``search`` is the anchor) hold
        every span a rule reads; masks cut each rule's own span out of them. Returns per anchor: ``ok``
        (a running contact), ``floor_at`` (absolute index of the flight floor before it) and the figures.
        """
        st = self.settings
        buf = self._buf
        n = self._search
        first = p - n
        # the half windows up to and from the anchor (column n): most rules read only one
        xb, xa = self._halves(X, first, n)
        tb, ta = self._halves(T, first, n)
        half = np.arange(n + 1)[None, :]
        after_end = np.minimum(p + n + 1, end) - first
        ok = (p + 1 - lo >= 2) & (after_end - n >= 2)
        rows = np.arange(p.shape[0])
        # (masks only where a search is cut: by the previous toe-off or the buffer)
        cut_b = lo > first
        i0 = np.argmin(np.where(half >= (lo - first)[:, None], xb, np.inf) if cut_b.any() else xb, axis=1)
        cut_a = after_end - n < n + 1
        j1 = np.argmin(np.where(half < (after_end - n)[:, None], xa, np.inf) if cut_a.any() else xa, axis=1)
        floor0, floor1 = xb[rows, i0], xa[rows, j1]  # j1: the floor after, less n
        ok &= np.maximum(floor0, floor1) <= st.max_flight_g
        from_i0, to_j1 = half >= i0[:, None], half <= j1[:, None]  # [floor before, anchor], [anchor, after]
        peak = np.maximum(
            np.where(from_i0, xb, -np.inf).max(axis=1), np.where(to_j1, xa, -np.inf).max(axis=1)
        )
        # IC: last upward crossing on [floor before, anchor]
        ic_level = floor0 + st.ic_fraction * (peak - floor0)
        k_ic, ic_frac, has_ic = _crossing(xb, ic_level, i0, n, rising=True, last=True)
        ic_pos = (first + i0) + ((k_ic - i0) + ic_frac)
        # TO: last downward crossing on the toe-off signal's fall [anchor, floor after]
        fall_min = np.where(to_j1, ta, np.inf).min(axis=1)
        to_peak = np.where(from_i0, tb, -np.inf).max(axis=1)
        to_level = fall_min + st.to_fraction * (to_peak - fall_min)
        k_to, to_frac, has_to = _crossing(ta, to_level, 0, j1, rising=False, last=True)
        to_cross = p + (k_to + to_frac)
        to_pos = to_cross + st.to_lag_s * self.rate_hz
        # second TO cue: the start of flight
        level = np.full(p.shape[0], st.flight_level_g)
        k_fl, fl_frac, has_fl = _crossing(xa, level, 0, j1, rising=False, last=False)
        flight_cross = p + (k_fl + fl_frac)
        flight_pos = flight_cross + st.flight_lag_s * self.rate_hz
        to_pos = np.where(has_fl, (to_pos + flight_pos) / 2, to_pos)
        ok &= has_ic & has_to
        ic_index = np.rint(np.where(ok, ic_pos, 0.0)).astype(np.int64)
        to_index = np.rint(np.where(ok, to_pos, 0.0)).astype(np.int64)
        impact, rise, edge, has_edge = self._impact(first, ic_index, to_index, first + i0, floor0)
        # every event's time in one interpolation
        ic_t, to_cross_t, flight_t, ta, tb = buf.times_at(np.stack([ic_pos, to_cross, flight_cross, *edge]))
        to_t = to_cross_t + st.to_lag_s
        to_t = np.where(has_fl, (to_t + flight_t + st.flight_lag_s) / 2, to_t)
        has_edge &= tb > ta
        loading = np.divide(rise, tb - ta, out=np.full(rise.shape[0], np.nan), where=has_edge)
        return {
            "ok": ok,
            "floor_at": first + i0,
            "ic_index": ic_index,
            "ic_t_s": ic_t,
            "to_index": to_index,
            "to_t_s": to_t,
            "to_pos": to_pos,
            "impact_g": impact,
            "loading_rate_g_s": loading,
        }

    def _halves(self, c: int, first: IntArray, n: int) -> tuple[FloatArray, FloatArray]:
        """Channel ``c`` over ``[first, first + n]`` and ``[first + n, first + 2n]`` per row, contiguous (NaN
        beyond what the buffer keeps, as :meth:`SignalBuffer.windows` gives it)."""
        buf = self._buf
        start = buf.start or 0
        if first.shape[0] and first.min() >= start and first.max() + 2 * n + 1 <= buf.end:
            view = _windows(buf.channel(c, start, buf.end), n + 1)
            return view[first - start], view[first + n - start]
        w = buf.windows(first, 2 * n + 1)[:, :, c]
        return np.ascontiguousarray(w[:, : n + 1]), np.ascontiguousarray(w[:, n:])

    def _impact(
        self, first: IntArray, ic: IntArray, to: IntArray, floor_at: IntArray, floor: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
        """Impact peak (g) and what the loading rate (g/s) of each contact needs, from the *unfiltered*
        vertical signal: the rise (g) from the 20 % to the 80 % level, the (2, K) fractional absolute
        positions of their crossings and whether both exist (the caller times them).

        ``impact_g``: the highest raw sample from IC to toe-off (both sample indices included).
        ``loading_rate_g_s``: the mean slope from 20 % to 80 % of the way from the flight floor (the
        ``lowpass_hz`` signal's minimum before IC, robust to noise) up to that peak: the first upward
        crossings of both levels after the floor, each interpolated between samples and timed on the
        samples' own time stamps. The 20 Hz signal would flatten a heel-strike transient of a few ms.
        """
        width = 2 * self._search + 1 + self._to_reach
        buf = self._buf
        start = buf.start or 0
        received = buf.raw(start, start + 2**62)
        if first.shape[0] and first.min() >= start and first.max() + width <= start + received.shape[0]:
            raw = _windows(received, width)[first - start]
        else:
            raw = buf.raw_windows(first, width, fill=-np.inf)
        c = np.arange(width)[None, :]
        stance = (c >= (ic - first)[:, None]) & (c <= (to - first)[:, None])
        masked = np.where(stance, raw, -np.inf)
        k_peak = np.argmax(masked, axis=1)
        rows = np.arange(first.shape[0])
        impact = np.where(stance.any(axis=1), masked[rows, k_peak], np.nan)
        impact = np.where(impact > -np.inf, impact, np.nan)
        f = floor_at - first
        lo_level = floor + 0.2 * (impact - floor)
        hi_level = floor + 0.8 * (impact - floor)
        ka, fa, has_a = _crossing(raw, lo_level, f, k_peak, rising=True, last=False)
        kb, fb, has_b = _crossing(raw, hi_level, f, k_peak, rising=True, last=False)
        edge = np.stack([first + (ka + fa), first + (kb + fb)])
        return impact, hi_level - lo_level, edge, has_a & has_b


def _windows(x: FloatArray, width: int) -> FloatArray:
    """Read-only view ``(len(x) - width + 1, width)`` of every run of ``width`` samples of the 1-D ``x``
    (rows share memory; index it to gather copies)."""
    step = x.strides[0]
    view: FloatArray = as_strided(x, (x.shape[0] - width + 1, width), (step, step), writeable=False)
    return view


def _crossing(
    w: FloatArray, level: FloatArray, lo: IntArray | int, hi: IntArray | int, *, rising: bool, last: bool
) -> tuple[IntArray, FloatArray, NDArray[np.bool_]]:
    """Per row of ``w``: the last (or first) crossing of ``level`` within columns ``[lo, hi]``.

    A rising crossing at ``k``: ``w[k] < level <= w[k + 1]``; a falling one: ``w[k] >= level > w[k + 1]``
    (``k`` and ``k + 1`` both in the span). Returns ``k``, the fraction ``(level - w[k]) / (w[k+1] - w[k])``
    and whether there is one (where there is none, ``k`` is arbitrary and the fraction 0).

    The last crossing before ``hi`` lies in the span iff it is at or after ``lo`` (and the first one from
    ``lo`` iff it is before ``hi``), so only one bound needs a mask.
    """
    above = w >= level[:, None]
    edges = (above[:, 1:] > above[:, :-1]) if rising else (above[:, 1:] < above[:, :-1])
    k = np.arange(edges.shape[1])
    if last:
        if np.ndim(hi) or hi < edges.shape[1]:
            edges &= k < np.reshape(hi, (-1, 1))
        at = edges.shape[1] - 1 - np.argmax(edges[:, ::-1], axis=1)
        inside = at >= np.asarray(lo)
    else:
        if np.ndim(lo) or lo > 0:
            edges &= k >= np.reshape(lo, (-1, 1))
        at = np.argmax(edges, axis=1)
        inside = at < np.asarray(hi)
    rows = np.arange(w.shape[0])
    has = edges[rows, at] & inside
    v0, v1 = w[rows, at], w[rows, at + 1]
    # only where there is a crossing (elsewhere the samples may be fill values: no warnings, fraction 0)
    num = np.subtract(level, v0, out=np.zeros(v0.shape[0]), where=has)
    den = np.subtract(v1, v0, out=np.ones(v0.shape[0]), where=has)
    frac = np.divide(num, den, out=np.zeros(v0.shape[0]), where=has)
    return at, frac, has
