"""Left or right for every step, with a confidence; unsure steps are labelled ``"?"``, never guessed.

Evidence per step: the stride phase
===================================
Left and right steps are mirror images in the mediolateral signals: pelvic roll (``gyr_ap``), yaw
(``gyr_v``) and mediolateral acceleration (``acc_ml``) repeat once per *stride*, while the symmetric
content (vertical and fore-aft bounce) repeats once per *step*. So the side of a step is the phase of the
stride-frequency component of those signals relative to its initial contact: shifting by one step
(``T``, the local step time) turns the stride-frequency sinusoid upside down, i.e. the other side.

For each of the three channels the stage takes the samples over ``[-stride_windows · 2T, +stride_windows
· 2T]`` around the contact (two whole strides by default, so turning, drift and the step-frequency bounce
average out; the live side uses a shorter, past-heavy window, see below), removes a straight line (a
turn adds a slow ramp to the yaw rate and a centripetal offset to ``acc_ml``), divides by the residual's
standard deviation (scale free: any sensor, any speed) and projects onto ``cos(π τ / T)`` and
``sin(π τ / T)`` (``τ`` = time from the contact). A logistic model turns these
six numbers (two without a gyroscope) into the step's own ``p_right``. The weights were fitted on
voisard2023 subjects 1–5 (walking; trials 4-1 and 4-2 left out: their labels look swapped) by
``python -m benchmarks.accuracy.sides --tune``; subjects 6–9 are the untouched test split.

The earlier per-step window means (roll after IC, yaw around IC, ``acc_ml`` after IC, each over a
fraction of one step) reached 95.9 % correct on the tuning split with the same alternation model; the
stride phase reaches 98.7 %: it uses two strides of signal, and the whole waveform instead of one window.

Which way each cue points is learned from walking. With a gyroscope, the simulated runner
(:mod:`imu.sim`) whose roll and yaw follow the running literature gives the same signs; acceleration
alone is validated for walking only: in running the mediolateral acceleration at the sacrum mixes the
sway force with gravity projected by the pelvic roll, whose balance no real running recording with
left/right truth has settled; on the simulated runner it carries no side information. So without a
gyroscope, running-cadence steps (shorter than ``acc_only_min_step_s``) are left unsure, never guessed
(see ``benchmarks/results/accuracy_sides.md``).

Alternation: a soft prior in a two-state HMM
============================================
Sides alternate, but a missed or extra contact breaks the alternation, and forcing it made things worse
(FINDINGS.md). So alternation is soft evidence: a two-state hidden Markov model over the steps, where a
step follows the other side with probability ``alternation_prob`` when the interval from the previous
step is a plausible single step (at least ``min_step_s`` and at most ``gap_factor`` local step times), and
with probability 0.5 otherwise (a contact may be missing, an extra one may have been
found, or the walker stopped and restarted with either foot). A step whose posterior is below
``unsure_below`` gets side ``"?"``.

Two sides per step: live and smoothed
=====================================
- **live** (what :meth:`SideStage.update` returns; the dashboard's ``side``): the evidence window is
  past-heavy, ``[-a·T, +min(b·T, live_max_after_s)]`` (``live_window_steps`` = (2, 1)), and the HMM is
  a forward filter over all past steps (no future steps). It is final as soon as the samples reach
  ``live_max_after_s`` (0.5 s) after the contact, hence within 0.5 s of the step's toe-off, once the
  contact itself has arrived.
- **smoothed** (``smoothed=True``, :meth:`SideStage.take_smoothed`; the research tables'
  ``side_smoothed``): the two-stride window ``[-2T, +2T]`` and forward–backward over the
  ``history_steps`` before and the ``look_ahead_steps`` after the step. At the end of the stream
  (``flush``) the last steps have fewer or no steps after them and lean on the past.

Neither is ever retracted; they may disagree. The live side costs accuracy, mostly as unsure steps
(``benchmarks/results/accuracy_sides.md``; voisard test split with the causal frame: 91.1 % correct, 8.3 %
unsure, 99.3 % of labelled correct, against 96.5 %, 3.3 %, 99.75 % smoothed), so the research tables use
the smoothed side.

Look-ahead and memory
=====================
Live: :attr:`SideStage.look_ahead_s` = ``live_max_after_s`` of samples after the contact. Smoothed: a
step is committed once ``look_ahead_steps`` further steps have their evidence, and a step's evidence needs
samples up to ``2 · stride_windows · T`` after its contact: worst case ``(look_ahead_steps + 2 ·
stride_windows) · max_step_s`` (:attr:`SideStage.smoothed_look_ahead_s`). The stage keeps only the steps
the HMMs still need and the samples the pending evidence windows need, so its memory is bounded whatever
the length of the stream.

Speed
=====
Per block, the evidence of every step whose window is complete is computed at once: windows are found by
``searchsorted`` on the held times, their samples gathered once into the columns ``1, τ, cos, sin`` and the
cue channels, and one Gram matrix per window (BLAS on a contiguous slice) holds every sum the line fit, the
residual's spread and the two projections need. A step's live and smoothed windows start at the same sample
(both ``2T`` before the contact), so when both are complete in the same block the live one is a prefix of
the smoothed one's rows: gathered and cos/sin'ed once. The live filter runs on plain floats per step; the
smoothed forward–backward runs for all committable steps at once as products of 2×2 matrices. Each step's
figures depend on its own window and run only, so they are the same for any chunking.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imu.errors import InputError
from imu.gait.body_block import AP, ML, BodyBlock, V
from imu.samples import FloatArray


@dataclass(frozen=True)
class SideSettings:
    """Evidence windows, logistic weights, alternation model (see the module docstring)."""

    stride_windows: float = 1.0
    """Smoothed side: half-width of the evidence window in strides (``2T`` each): 1 → ``[-2T, 2T]``."""
    live_window_steps: tuple[float, float] = (2.0, 1.0)
    """Live side: the evidence window ``[-a·T, +b·T]`` around the contact, ``(a, b)`` in steps ``T``
    (chosen on voisard subjects 1–5 among a = 1…5, b = 0.5…1; the weights are the smoothed side's:
    refitting them for this window did not help on those subjects)."""
    live_max_after_s: float = 0.5
    """Live side: the window never reaches more than this after the contact, so the live side is final
    within this of the contact (hence of its toe-off) whatever the step time."""
    weights_gyr: tuple[float, float, float, float, float, float] = (-2.99, -0.77, 3.81, -3.42, 1.28, -4.23)
    """Logistic weights of the (cos, sin) stride-phase projections of roll rate, yaw rate and ml
    acceleration, with a gyroscope; fitted on voisard subjects 1–5."""
    weights_acc_only: tuple[float, float] = (-1.56, -9.80)
    """Logistic weights of the (cos, sin) projections of the ml acceleration without a gyroscope; fitted
    on voisard subjects 1–5."""
    acc_only_min_step_s: float = 0.42
    """Without a gyroscope, steps shorter than this (cadence above ≈ 143 spm: running), or whose step time
    is not measured yet, get no evidence (0.5, so ``"?"``): the ml-acceleration cue is validated on
    walking only, and on the simulated runner it carries no side information (per-step evidence right
    52 % of the time with the walking weights)."""
    default_step_s: float = 0.45
    min_step_s: float = 0.2
    max_step_s: float = 1.2
    median_of_steps: int = 5
    alternation_prob: float = 0.99
    gap_factor: float = 1.4
    history_steps: int = 8
    look_ahead_steps: int = 3
    unsure_below: float = 0.9

    def window_s(self, step_s: float, live: bool) -> tuple[float, float]:
        """(seconds before, seconds after) the contact that the evidence of a step of ``step_s`` uses."""
        if live:
            before, after = self.live_window_steps
            return before * step_s, min(after * step_s, self.live_max_after_s)
        half = self.stride_windows * 2.0 * step_s
        return half, half


@dataclass(frozen=True, slots=True)
class StepSide:
    """The side of the step starting at absolute sample ``index`` (time ``t_s``).

    ``side`` is ``"L"``, ``"R"`` or ``"?"``; ``p_right`` the posterior probability of a right step;
    ``confidence = max(p_right, 1 - p_right)``; ``evidence_p_right`` the step's own evidence alone.
    """

    index: int
    t_s: float
    side: str
    p_right: float
    confidence: float
    evidence_p_right: float


def stride_phases(
    t_s: FloatArray,
    signals: FloatArray,
    t_ic_s: FloatArray,
    step_s: FloatArray,
    before_s: FloatArray,
    after_s: FloatArray,
) -> FloatArray:
    """:func:`stride_phase` of many steps at once: ``(steps, 2 · columns)``.

    Each step's window is found by index arithmetic on ``t_s`` (sorted); its samples are gathered once into
    the columns ``1, τ, cos, sin, signals…`` and one Gram matrix per window (a contiguous slice, so the bits
    do not depend on the other steps) gives every sum the line fit and the projections need. Adjacent
    windows of the same contact and step time that start at the same sample (the live and the smoothed
    window of a step, with the default settings) share their rows: each is a prefix of the longer one, so
    the gathering and the cos/sin are done once (the values, hence the bits, are the same either way).
    """
    n_steps, n_cols = t_ic_s.shape[0], signals.shape[1]
    out = np.zeros((n_steps, 2 * n_cols))
    lo = np.searchsorted(t_s, t_ic_s - before_s)
    count = np.searchsorted(t_s, t_ic_s + after_s) - lo
    use = np.flatnonzero(count >= 8)
    if use.size == 0:
        return out
    lo, count, t_ic, step = lo[use], count[use], t_ic_s[use], step_s[use]
    # a run of windows sharing contact, step time and first sample gathers the rows of its longest
    opens = np.ones(use.size, dtype=bool)
    opens[1:] = (lo[1:] != lo[:-1]) | (t_ic[1:] != t_ic[:-1]) | (step[1:] != step[:-1])
    head = np.flatnonzero(opens)
    run_count = np.maximum.reduceat(count, head)
    run_first = np.concatenate([[0], np.cumsum(run_count)])
    rows = np.arange(run_first[-1]) - np.repeat(run_first[:-1] - lo[head], run_count)
    # each column is written in place (no temporaries): the same elementwise operations, the same bits
    design = np.empty((rows.shape[0], 4 + n_cols))
    design[:, 0] = 1.0
    tau = np.subtract(t_s[rows], np.repeat(t_ic[head], run_count), out=design[:, 1])
    phase = np.pi * tau
    phase /= np.repeat(step[head], run_count)
    np.cos(phase, out=design[:, 2])
    np.sin(phase, out=design[:, 3])
    cues = design[:, 4:]
    for a, first, n_rows in zip(run_first[:-1].tolist(), lo[head].tolist(), run_count.tolist(), strict=True):
        cues[a : a + n_rows] = signals[first : first + n_rows]  # a run's rows are consecutive samples
    start = run_first[np.cumsum(opens) - 1]
    gram = np.empty((use.size, 4 + n_cols, 4 + n_cols))
    dot = np.dot  # Wᵀ·W of a contiguous slice: BLAS syrk, as ``@`` calls it
    for k, (a, b) in enumerate(zip(start.tolist(), (start + count).tolist(), strict=True)):
        window = design[a:b]
        dot(window.T, window, gram[k])
    n = gram[:, 0, 0]
    s_tau, s_cos, s_sin = gram[:, 0, 1], gram[:, 0, 2], gram[:, 0, 3]
    s_tau2, s_tau_cos, s_tau_sin = gram[:, 1, 1], gram[:, 1, 2], gram[:, 1, 3]
    for j in range(n_cols):
        c = 4 + j
        s_x, s_tau_x, s_cos_x, s_sin_x, s_x2 = (
            gram[:, 0, c],
            gram[:, 1, c],
            gram[:, 2, c],
            gram[:, 3, c],
            gram[:, c, c],
        )
        # least-squares line x ≈ a + b τ, then sums of the residual r = x - a - b τ
        tau_mean = s_tau / n
        slope = (s_tau_x - tau_mean * s_x) / (s_tau2 - tau_mean * s_tau)
        offset = s_x / n - slope * tau_mean
        r_cos = s_cos_x - offset * s_cos - slope * s_tau_cos
        r_sin = s_sin_x - offset * s_sin - slope * s_tau_sin
        r2 = s_x2 - offset * s_x - slope * s_tau_x
        # a residual at the rounding level of Σx² is no signal (a constant channel)
        signal = r2 > _RESIDUAL_FLOOR * s_x2
        sd = np.sqrt(np.where(signal, r2, 1.0) / n)
        out[use, 2 * j] = np.where(signal, r_cos / n / sd, 0.0)
        out[use, 2 * j + 1] = np.where(signal, r_sin / n / sd, 0.0)
    return out


_RESIDUAL_FLOOR = 1e-12
"""A window whose residual sum of squares is below this fraction of Σx² counts as flat (no evidence)."""


def stride_phase(
    t_s: FloatArray, signals: FloatArray, t_ic_s: float, step_s: float, window_s: tuple[float, float]
) -> FloatArray:
    """(cos, sin) projections of each column of ``signals`` at the stride frequency, phase 0 at the contact.

    Samples from ``window_s[0]`` before to ``window_s[1]`` after ``t_ic_s`` take part; a least-squares line
    is removed first and the result is divided by the residual's standard deviation. Returns shape
    ``(2 · columns,)``: ``cos₀, sin₀, cos₁, sin₁, …``; zeros when the window holds too few samples.
    """
    one = np.array([t_ic_s]), np.array([step_s]), np.array([window_s[0]]), np.array([window_s[1]])
    return np.asarray(stride_phases(t_s, signals, *one)[0])


def side_channels(acc: FloatArray, gyr: FloatArray | None) -> FloatArray:
    """The side cues' signals (N, 3): roll rate, yaw rate, ml acceleration; (N, 1) ml only without gyr."""
    if gyr is None:
        return np.ascontiguousarray(acc[:, [ML]])
    return np.column_stack([gyr[:, AP], gyr[:, V], acc[:, ML]])


def step_cues(
    t_s: FloatArray,
    acc: FloatArray,
    gyr: FloatArray | None,
    t_ic_s: float,
    step_s: float,
    settings: SideSettings,
    live: bool = False,
) -> FloatArray:
    """The step's stride-phase features: roll, yaw, ml acceleration (cos, sin each); ml only without gyr."""
    return stride_phase(t_s, side_channels(acc, gyr), t_ic_s, step_s, settings.window_s(step_s, live))


def _logistic(cues: FloatArray, weights: Sequence[float]) -> FloatArray:
    """``p_right`` from cue rows (steps, features): the weighted sum in a fixed order, then the logistic."""
    z = cues[:, 0] * weights[0]
    for j in range(1, len(weights)):
        z = z + cues[:, j] * weights[j]
    out: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return out


def _filter_right(previous_right: float | None, p_right: float, alternation: float) -> float:
    """P(right | this and all earlier steps' evidence) from the same for the step before (plain floats)."""
    if previous_right is None:
        prior_left = prior_right = 0.5
    else:
        prior_left = (1.0 - previous_right) * (1.0 - alternation) + previous_right * alternation
        prior_right = (1.0 - previous_right) * alternation + previous_right * (1.0 - alternation)
    left, right = (1.0 - p_right) * prior_left, p_right * prior_right
    return right / (left + right)


def filter_step(previous: FloatArray | None, p_right: float, alternation: float) -> FloatArray:
    """One forward (filtering) step of the HMM: P(left, right | this and all earlier steps' evidence).

    ``previous`` is the same for the step before (``None`` at the start: both sides equally likely).
    """
    right = _filter_right(None if previous is None else float(previous[1]), p_right, alternation)
    return np.array([1.0 - right, right])


def centred_posteriors(
    p_right: FloatArray, alternation: FloatArray, lo: np.ndarray, hi: np.ndarray, centre: np.ndarray
) -> FloatArray:
    """P(right) of step ``centre[k]`` given the evidence of steps ``lo[k] … hi[k] - 1`` of row k (forward–
    backward, both sides equally likely before ``lo``), for rows of ``p_right`` and ``alternation`` (runs,
    L); ``alternation[k, j]`` is P(step j is the other side of j - 1).

    The forward and the backward messages are products of 2×2 matrices ``T(a_j) · diag(1 - p_j, p_j)``,
    identities outside their range, multiplied pairwise in a tree (a few batched products for all runs).
    """
    runs, length = p_right.shape
    pos = np.arange(length)[None, :]
    forward = (pos >= lo[:, None]) & (pos <= centre[:, None])
    backward = (pos > centre[:, None]) & (pos < hi[:, None])
    # the transition into step j: none at the first step of a run
    a = np.where(pos > lo[:, None], alternation, 0.0)

    def factors(active: np.ndarray) -> FloatArray:
        aa = np.where(active, a, 0.0)
        e1 = np.where(active, p_right, 1.0)
        e0 = np.where(active, 1.0 - p_right, 1.0)
        f = np.empty((runs, length, 2, 2))
        f[:, :, 0, 0] = (1.0 - aa) * e0
        f[:, :, 0, 1] = aa * e1
        f[:, :, 1, 0] = aa * e0
        f[:, :, 1, 1] = (1.0 - aa) * e1
        return _tree_product(f)

    alpha = factors(forward).sum(axis=1)  # [½, ½] · Π: the ½ cancels
    beta = factors(backward).sum(axis=2)  # Π · [1, 1]
    post = alpha * beta
    out: FloatArray = post[:, 1] / (post[:, 0] + post[:, 1])
    return out


def _tree_product(f: FloatArray) -> FloatArray:
    """The ordered product of the matrices ``f[:, 0] @ f[:, 1] @ …`` (runs, L, 2, 2), multiplied pairwise."""
    while f.shape[1] > 1:
        if f.shape[1] % 2:
            f = np.concatenate([f, np.broadcast_to(np.eye(2), (f.shape[0], 1, 2, 2))], axis=1)
        f = f[:, 0::2] @ f[:, 1::2]
    out: FloatArray = f[:, 0]
    return out


def posterior_right(p_right: FloatArray, alternation: FloatArray) -> FloatArray:
    """Forward–backward over a run of steps: ``alternation[j]`` is P(step j is the other side of j - 1)."""
    n = p_right.shape[0]
    runs = np.broadcast_to(p_right, (n, n))
    alt = np.broadcast_to(alternation, (n, n))
    return centred_posteriors(runs, alt, np.zeros(n, dtype=np.int64), np.full(n, n), np.arange(n))


class _Step:
    """A contact waiting for its evidence and its sides (``p_live``, ``p_right``: each step's own evidence
    for the live and the smoothed side)."""

    __slots__ = (
        "alternation",
        "index",
        "live_window",
        "measured",
        "p_live",
        "p_right",
        "smoothed_window",
        "step_s",
        "t_s",
    )

    def __init__(
        self,
        index: int,
        step_s: float,
        t_s: float,
        alternation: float,
        measured: bool,
        settings: SideSettings,
    ) -> None:
        self.index, self.step_s, self.t_s, self.alternation = index, step_s, t_s, alternation
        self.measured = measured
        """Whether ``step_s`` was measured from contact intervals (not the default)."""
        self.live_window = settings.window_s(step_s, live=True)
        self.smoothed_window = settings.window_s(step_s, live=False)
        """Seconds (before, after) the contact: its evidence windows (:meth:`SideSettings.window_s`)."""
        self.p_live: float | None = None
        self.p_right: float | None = None


class SideStage:
    """Body-frame blocks and initial-contact indices in, committed :class:`StepSide` lists out.

    ``update(block, ic_indices)``: ``ic_indices`` are absolute sample indices of initial contacts found so
    far (increasing, each reported once, possibly lying in earlier blocks still within the last
    ``max_step_s`` of samples). It returns the **live** sides that became final (each within
    :attr:`look_ahead_s` of its contact). With ``smoothed=True`` the stage also finds the **smoothed**
    sides: :meth:`take_smoothed` returns those that became final since it was last called (each within
    :attr:`smoothed_look_ahead_s`; call it after every ``update`` and after ``flush``, or they pile up).
    ``flush()`` commits the remaining live sides and makes every remaining smoothed side final. Every
    contact gets exactly one of each, in order; none is retracted.
    """

    def __init__(self, rate_hz: float, settings: SideSettings | None = None, smoothed: bool = False):
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise InputError("the sampling rate must be positive", expected="rate_hz > 0", found=str(rate_hz))
        self.settings = s = settings or SideSettings()
        self.rate_hz = float(rate_hz)
        self.smoothed = smoothed
        self._t = np.empty(0)
        self._signals = np.empty((0, 3))
        """The cue channels of the held samples (:func:`side_channels`)."""
        self._has_gyr: bool | None = None
        self._start = 0
        self._started = False
        self._steps: deque[_Step] = deque()
        """The steps still needed: from the next live commit, or from ``history_steps`` before the next
        smoothed commit (the smoothed HMM's history), whichever is earlier; older ones are forgotten."""
        self._n_forgotten = 0
        """Steps forgotten, counted from the stream's start (as are the three below)."""
        self._n_evaluated = 0
        """Steps before this one have all their evidence."""
        self._n_live = 0
        """Steps whose live side is committed."""
        self._n_smoothed = 0
        """Steps whose smoothed side is committed."""
        self._live_right: float | None = None
        self._smoothed: list[StepSide] = []
        self._last: _Step | None = None
        self._recent_t: deque[float] = deque(maxlen=s.median_of_steps)
        ratios = (s.live_window_steps[0], 2.0 * s.stride_windows if smoothed else 0.0)
        self._reach_before = max(ratios)
        """The longest evidence window before a contact, in step times."""

    @property
    def look_ahead_s(self) -> float:
        """Live side: samples needed after a contact before its side is final (at most
        ``live_max_after_s``); the contact itself must have arrived too."""
        s = self.settings
        return s.window_s(s.max_step_s, live=True)[1]

    @property
    def smoothed_look_ahead_s(self) -> float:
        """Smoothed side, worst case: ``look_ahead_steps`` of the longest step plus the evidence span."""
        s = self.settings
        return (s.look_ahead_steps + 2.0 * s.stride_windows) * s.max_step_s

    @property
    def held_samples(self) -> int:
        """Samples held for pending evidence windows (bounded: the memory does not grow with the stream)."""
        return int(self._t.shape[0])

    @property
    def held_steps(self) -> int:
        """Steps held: the HMM history plus those waiting for evidence or look-ahead (bounded)."""
        return len(self._steps)

    def update(self, block: BodyBlock, ic_indices: Sequence[int] | np.ndarray = ()) -> list[StepSide]:
        self._append(block)
        self._add_contacts(np.asarray(ic_indices, dtype=np.int64))
        self._evaluate(final=False)
        return self._commit_both(final=False)

    def flush(self) -> list[StepSide]:
        self._evaluate(final=True)
        return self._commit_both(final=True)

    def take_smoothed(self) -> list[StepSide]:
        """The smoothed sides that became final since the last call (each returned once, in order)."""
        out, self._smoothed = self._smoothed, []
        return out

    # ------------------------------------------------------------------ internals
    def _append(self, block: BodyBlock) -> None:
        if len(block) == 0:
            return
        if self._has_gyr is None:
            self._has_gyr = block.gyr is not None
            self._signals = np.empty((0, 3 if self._has_gyr else 1))
        if (block.gyr is not None) != self._has_gyr:
            raise InputError(
                "the gyroscope cannot appear or vanish mid-stream",
                expected="all blocks with or all without angular rate",
            )
        if not self._started:
            self._started, self._start = True, block.start_index
        elif block.start_index != self._start + len(self._t):
            raise InputError(
                "blocks must be consecutive",
                expected=f"start_index {self._start + len(self._t)}",
                found=str(block.start_index),
            )
        self._t = np.concatenate([self._t, block.t_s])
        self._signals = np.concatenate([self._signals, side_channels(block.acc, block.gyr)])

    def _add_contacts(self, ics: np.ndarray) -> None:
        """Step time (median of the plausible intervals among the last ``median_of_steps`` contacts) and
        alternation prior of each new contact, all at once (the same float operations as one at a time)."""
        if ics.size == 0:
            return
        s = self.settings
        held = len(self._t)
        last = self._last.index if self._last is not None else np.iinfo(np.int64).min
        after = np.concatenate([[last], ics])
        unordered = ics <= after[:-1]
        inside = (self._start <= ics) & (ics < self._start + held) & self._started
        bad = np.flatnonzero(unordered | ~inside)
        if bad.size:
            k = int(bad[0])
            if unordered[k]:
                raise InputError(
                    "initial contacts must increase", expected=f"an index after {after[k]}", found=str(ics[k])
                )
            raise InputError(
                "an initial contact outside the samples held",
                expected=f"index in [{self._start}, {self._start + held})",
                found=str(ics[k]),
            )
        t_ic = self._t[ics - self._start]
        recent = len(self._recent_t)
        intervals = np.diff(np.concatenate([list(self._recent_t), t_ic]))
        # contact j's intervals: the last median_of_steps ones ending at it (fewer at the stream's start)
        ends = recent + np.arange(ics.size) if s.median_of_steps else np.zeros(ics.size, dtype=np.int64)
        at = ends[:, None] - s.median_of_steps + np.arange(s.median_of_steps)[None, :]
        d = intervals[np.clip(at, 0, None)] if intervals.size else np.zeros(at.shape)
        plausible = (at >= 0) & (s.min_step_s <= d) & (d <= s.max_step_s)
        n_ok = plausible.sum(axis=1)
        # sorted, the implausible ones last; a column of inf so the picks below exist when none is plausible
        ok = np.sort(np.column_stack([np.where(plausible, d, np.inf), np.full(ics.size, np.inf)]), axis=1)
        mid = n_ok // 2
        upper = np.take_along_axis(ok, mid[:, None], axis=1)[:, 0]
        lower = np.take_along_axis(ok, np.maximum(mid - 1, 0)[:, None], axis=1)[:, 0]
        step_s = np.where(n_ok % 2 == 1, upper, (lower + upper) / 2)
        step_s = np.where(n_ok > 0, step_s, s.default_step_s)
        latest = intervals[np.maximum(ends - 1, 0)] if intervals.size else np.zeros(ics.size)
        follows = (ends > 0) & (s.min_step_s <= latest) & (latest <= s.gap_factor * step_s)
        alternation = np.where(follows, s.alternation_prob, 0.5)
        self._recent_t.extend(t_ic.tolist())
        new = zip(
            ics.tolist(),
            step_s.tolist(),
            t_ic.tolist(),
            alternation.tolist(),
            (n_ok > 0).tolist(),
            strict=True,
        )
        self._steps.extend(
            _Step(index, step_i, t_i, alt_i, ok_i, s) for index, step_i, t_i, alt_i, ok_i in new
        )
        self._last = self._steps[-1]

    def _evaluate(self, final: bool) -> None:
        """Evidence (live and smoothed) for each step whose samples up to the end of its window have
        arrived, all such steps at once; then forget the samples no pending or future window can reach."""
        s = self.settings
        t_end = float(self._t[-1]) if len(self._t) else -np.inf
        pending_t = t_end
        wanted: list[tuple[_Step, bool]] = []
        steps = self._steps
        done = True
        for k in range(self._n_evaluated - self._n_forgotten, len(steps)):
            st = steps[k]
            for live in (True, False) if self.smoothed else (True,):
                if (st.p_live if live else st.p_right) is not None:
                    continue
                if not final and t_end < st.t_s + (st.live_window if live else st.smoothed_window)[1]:
                    pending_t = min(pending_t, st.t_s)
                    done = False
                    continue
                wanted.append((st, live))
            if done:
                self._n_evaluated = k + 1 + self._n_forgotten
        if wanted:
            for (st, live), p in zip(wanted, self._evidence(wanted), strict=True):
                if live:
                    st.p_live = p
                else:
                    st.p_right = p
        # a contact still to come may lie up to max_step_s back; its window reaches further back still
        horizon = min(pending_t, t_end - s.max_step_s) - self._reach_before * s.max_step_s
        drop = int(np.searchsorted(self._t, horizon)) if np.isfinite(horizon) else 0
        if drop > 0:
            self._t, self._signals = self._t[drop:], self._signals[drop:]
            self._start += drop

    def _evidence(self, wanted: list[tuple[_Step, bool]]) -> list[float]:
        """Each step's own ``p_right`` for its live or smoothed window (0.5 where there is nothing to go on:
        no gyroscope and a step time not measured or too short, see :class:`SideSettings`)."""
        s = self.settings
        gyro = bool(self._has_gyr)
        usable = [gyro or (st.measured and st.step_s >= s.acc_only_min_step_s) for st, _ in wanted]
        out = [0.5] * len(wanted)
        chosen = [i for i, ok in enumerate(usable) if ok]
        if not chosen:
            return out
        steps = [wanted[i] for i in chosen]
        windows = np.array([st.live_window if live else st.smoothed_window for st, live in steps])
        cues = stride_phases(
            self._t,
            self._signals,
            np.array([st.t_s for st, _ in steps]),
            np.array([st.step_s for st, _ in steps]),
            windows[:, 0],
            windows[:, 1],
        )
        p = _logistic(cues, s.weights_gyr if gyro else s.weights_acc_only).tolist()
        for i, p_i in zip(chosen, p, strict=True):
            out[i] = p_i
        return out

    def _commit_live(self) -> list[StepSide]:
        """Filter (forward only) every step whose live evidence is in, in order."""
        out: list[StepSide] = []
        steps = self._steps
        while self._n_live - self._n_forgotten < len(steps):
            st = steps[self._n_live - self._n_forgotten]
            if st.p_live is None:
                break
            self._live_right = _filter_right(self._live_right, st.p_live, st.alternation)
            out.append(self._side(st, self._live_right, st.p_live))
            self._n_live += 1
        return out

    def _side(self, st: _Step, post: float, evidence: float) -> StepSide:
        conf = max(post, 1.0 - post)
        side = "?" if conf < self.settings.unsure_below else ("R" if post >= 0.5 else "L")
        return StepSide(st.index, st.t_s, side, post, conf, evidence)

    def _commit_both(self, final: bool) -> list[StepSide]:
        live = self._commit_live()
        if self.smoothed:
            self._smoothed += self._commit_smoothed(final)
        keep_from = self._n_live
        if self.smoothed:
            keep_from = min(keep_from, max(0, self._n_smoothed - self.settings.history_steps))
        while self._n_forgotten < keep_from:
            self._steps.popleft()
            self._n_forgotten += 1
        return live

    def _commit_smoothed(self, final: bool) -> list[StepSide]:
        """Forward–backward over ``history_steps`` before and ``look_ahead_steps`` after each step, all
        committable steps at once."""
        s = self.settings
        steps = self._steps
        n_ready = self._n_smoothed - self._n_forgotten
        while n_ready < len(steps) and steps[n_ready].p_right is not None:
            n_ready += 1
        first = self._n_smoothed - self._n_forgotten
        last = n_ready if final else n_ready - s.look_ahead_steps
        if last <= first:
            return []
        # run of step i: steps i - history … i + look_ahead, as a row centred at column history_steps
        h, a = s.history_steps, s.look_ahead_steps
        base = max(0, first - h)
        run = list(steps)[base:n_ready]
        p = [st.p_right for st in run]
        alt = [st.alternation for st in run]
        width = h + 1 + a
        centres = np.arange(first, last)
        cols = centres[:, None] - h + np.arange(width)[None, :]  # step positions in the deque
        inside = (cols >= 0) & (cols < n_ready)
        at = np.clip(cols - base, 0, len(p) - 1)
        p_runs = np.where(inside, np.asarray(p, dtype=np.float64)[at], 0.5)
        alt_runs = np.where(inside, np.asarray(alt)[at], 0.5)
        lo = np.maximum(0, h - centres)
        hi = np.minimum(width, h + (n_ready - centres))
        post = centred_posteriors(p_runs, alt_runs, lo, hi, np.full(centres.shape[0], h)).tolist()
        out = [
            self._side(steps[i], post_i, float(steps[i].p_right or 0.5))
            for i, post_i in zip(centres.tolist(), post, strict=True)
        ]
        self._n_smoothed = last + self._n_forgotten
        return out
