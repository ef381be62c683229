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


@dataclass(frozen=True)
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


@dataclass
class _Step:
    index: int
    step_s: float
    t_s: float
    alternation: float
    measured: bool
    """Whether ``step_s`` was measured from contact intervals (not the default)."""
    p_live: float | None = None
    p_right: float | None = None
    """The smoothed side's evidence."""


def stride_phase(
    t_s: FloatArray, signals: FloatArray, t_ic_s: float, step_s: float, window_s: tuple[float, float]
) -> FloatArray:
    """(cos, sin) projections of each column of ``signals`` at the stride frequency, phase 0 at the contact.

    Samples from ``window_s[0]`` before to ``window_s[1]`` after ``t_ic_s`` take part; a least-squares line
    is removed first and the result is divided by the residual's standard deviation. Returns shape
    ``(2 · columns,)``: ``cos₀, sin₀, cos₁, sin₁, …``; zeros when the window holds too few samples.
    """
    lo, hi = np.searchsorted(t_s, [t_ic_s - window_s[0], t_ic_s + window_s[1]])
    n_cols = signals.shape[1]
    if hi - lo < 8:
        return np.zeros(2 * n_cols)
    tau = t_s[lo:hi] - t_ic_s
    x = signals[lo:hi]
    design = np.column_stack([np.ones_like(tau), tau])
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    resid = x - design @ coef
    sd = resid.std(axis=0)
    phase = np.pi * tau / step_s
    basis = np.column_stack([np.cos(phase), np.sin(phase)])
    proj = basis.T @ resid / tau.shape[0]  # (2, columns)
    proj = np.where(sd > 0, proj / np.where(sd > 0, sd, 1.0), 0.0)
    return np.asarray(proj.T.reshape(-1))


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
    window = settings.window_s(step_s, live)
    if gyr is None:
        return stride_phase(t_s, acc[:, [ML]], t_ic_s, step_s, window)
    channels = np.column_stack([gyr[:, AP], gyr[:, V], acc[:, ML]])
    return stride_phase(t_s, channels, t_ic_s, step_s, window)


def step_evidence(
    t_s: FloatArray,
    acc: FloatArray,
    gyr: FloatArray | None,
    t_ic_s: float,
    step_s: float,
    settings: SideSettings,
    live: bool = False,
) -> float:
    """``p_right`` of one step from the body-frame samples around it (0.5 when there is nothing to go on)."""
    if gyr is None and step_s < settings.acc_only_min_step_s:
        return 0.5
    cues = step_cues(t_s, acc, gyr, t_ic_s, step_s, settings, live)
    weights = np.asarray(settings.weights_acc_only if gyr is None else settings.weights_gyr)
    return float(1.0 / (1.0 + np.exp(-float(cues @ weights))))


def _transition(alternation: float) -> FloatArray:
    a = alternation
    return np.array([[1 - a, a], [a, 1 - a]])


def filter_step(previous: FloatArray | None, p_right: float, alternation: float) -> FloatArray:
    """One forward (filtering) step of the HMM: P(left, right | this and all earlier steps' evidence).

    ``previous`` is the same for the step before (``None`` at the start: both sides equally likely).
    """
    prior = np.array([0.5, 0.5]) if previous is None else previous @ _transition(alternation)
    post = np.array([1.0 - p_right, p_right]) * prior
    return np.asarray(post / post.sum())


def posterior_right(p_right: FloatArray, alternation: FloatArray) -> FloatArray:
    """Forward–backward over a run of steps: ``alternation[j]`` is P(step j is the other side of j - 1)."""
    n = p_right.shape[0]
    emit = np.column_stack([1.0 - p_right, p_right])
    fwd = np.empty((n, 2))
    bwd = np.ones((n, 2))
    fwd[0] = emit[0] * 0.5
    fwd[0] /= fwd[0].sum()
    for j in range(1, n):
        fwd[j] = emit[j] * (fwd[j - 1] @ _transition(alternation[j]))
        fwd[j] /= fwd[j].sum()
    for j in range(n - 2, -1, -1):
        bwd[j] = _transition(alternation[j + 1]) @ (emit[j + 1] * bwd[j + 1])
        bwd[j] /= bwd[j].sum()
    post = fwd * bwd
    return np.asarray(post[:, 1] / post.sum(axis=1))


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
        self._acc = np.empty((0, 3))
        self._gyr: FloatArray | None = None
        self._has_gyr: bool | None = None
        self._start = 0
        self._started = False
        self._steps: deque[_Step] = deque()
        """The steps still needed: from the next live commit, or from ``history_steps`` before the next
        smoothed commit (the smoothed HMM's history), whichever is earlier; older ones are forgotten."""
        self._n_forgotten = 0
        """Steps forgotten, counted from the stream's start (as are the two below)."""
        self._n_live = 0
        """Steps whose live side is committed."""
        self._n_smoothed = 0
        """Steps whose smoothed side is committed."""
        self._live_state: FloatArray | None = None
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
            self._gyr = np.empty((0, 3)) if self._has_gyr else None
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
        self._acc = np.concatenate([self._acc, block.acc])
        if self._gyr is not None and block.gyr is not None:
            self._gyr = np.concatenate([self._gyr, block.gyr])

    def _add_contacts(self, ics: np.ndarray) -> None:
        s = self.settings
        for index in ics.tolist():
            last = self._last.index if self._last is not None else None
            if last is not None and index <= last:
                raise InputError(
                    "initial contacts must increase", expected=f"an index after {last}", found=str(index)
                )
            if not self._started or not self._start <= index < self._start + len(self._t):
                raise InputError(
                    "an initial contact outside the samples held",
                    expected=f"index in [{self._start}, {self._start + len(self._t)})",
                    found=str(index),
                )
            t_ic = float(self._t[index - self._start])
            step_s = s.default_step_s
            alternation = 0.5
            ok = np.empty(0)
            if self._recent_t:
                intervals = np.diff(np.array([*self._recent_t, t_ic]))
                ok = intervals[(intervals >= s.min_step_s) & (intervals <= s.max_step_s)]
                if ok.size:
                    step_s = float(np.median(ok))
                gap = intervals[-1]
                if s.min_step_s <= gap <= s.gap_factor * step_s:
                    alternation = s.alternation_prob
            self._recent_t.append(t_ic)
            self._last = _Step(index, step_s, t_ic, alternation, bool(ok.size))
            self._steps.append(self._last)

    def _evidence(self, st: _Step, live: bool) -> float:
        if self._gyr is None and not st.measured:
            return 0.5  # the cadence gate of acc-only evidence needs a measured step time
        return step_evidence(self._t, self._acc, self._gyr, st.t_s, st.step_s, self.settings, live)

    def _evaluate(self, final: bool) -> None:
        """Evidence (live and smoothed) for each step whose samples up to the end of its window have
        arrived; then forget the samples no pending or future window can reach."""
        s = self.settings
        t_end = float(self._t[-1]) if len(self._t) else -np.inf
        pending_t = t_end
        first = (min(self._n_smoothed, self._n_live) if self.smoothed else self._n_live) - self._n_forgotten
        for st in list(self._steps)[first:]:
            for live in (True, False) if self.smoothed else (True,):
                if (st.p_live if live else st.p_right) is not None:
                    continue
                if not final and t_end < st.t_s + s.window_s(st.step_s, live)[1]:
                    pending_t = min(pending_t, st.t_s)
                    continue
                if live:
                    st.p_live = self._evidence(st, live=True)
                else:
                    st.p_right = self._evidence(st, live=False)
        # a contact still to come may lie up to max_step_s back; its window reaches further back still
        horizon = min(pending_t, t_end - s.max_step_s) - self._reach_before * s.max_step_s
        drop = int(np.searchsorted(self._t, horizon)) if np.isfinite(horizon) else 0
        if drop > 0:
            self._t, self._acc = self._t[drop:], self._acc[drop:]
            if self._gyr is not None:
                self._gyr = self._gyr[drop:]
            self._start += drop

    def _commit_live(self) -> list[StepSide]:
        """Filter (forward only) every step whose live evidence is in, in order."""
        out: list[StepSide] = []
        steps = self._steps
        while self._n_live - self._n_forgotten < len(steps):
            st = steps[self._n_live - self._n_forgotten]
            if st.p_live is None:
                break
            self._live_state = filter_step(self._live_state, st.p_live, st.alternation)
            post = float(self._live_state[1])
            out.append(self._side(st, post, st.p_live))
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
        """Forward–backward over ``history_steps`` before and ``look_ahead_steps`` after each step."""
        s = self.settings
        steps = list(self._steps)
        ready = [st.p_right is not None for st in steps]
        n_ready = ready.index(False) if False in ready else len(ready)
        out: list[StepSide] = []
        i = self._n_smoothed - self._n_forgotten
        while i < n_ready and (final or i + s.look_ahead_steps < n_ready):
            lo, hi = max(0, i - s.history_steps), min(n_ready, i + s.look_ahead_steps + 1)
            run = steps[lo:hi]
            p = np.array([st.p_right for st in run], dtype=np.float64)
            alt = np.array([st.alternation for st in run])
            post = float(posterior_right(p, alt)[i - lo])
            out.append(self._side(steps[i], post, float(steps[i].p_right or 0.5)))
            i += 1
        self._n_smoothed = i + self._n_forgotten
        return out
