"""The Dash layout and its one callback, called directly on snapshots (no browser)."""

from __future__ import annotations

from typing import Any

import numpy as np
from dash import no_update

from imu.dashboard.app import FLAG_COLOUR, create_app, refresh, render_cards
from imu.dashboard.state import LiveState
from imu.fatigue import FIGURES


def _row(minute: int, cadence: float, flagged: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {"t_start_s": 60.0 * minute, "running_s": 60.0}
    for f in FIGURES:
        row[f] = 1.0
        row[f"{f}_drift"] = 0.0
        row[f"{f}_drift_flag"] = False
    row["cadence_spm"], row["cadence_spm_drift_flag"] = cadence, flagged
    return row


def _baseline() -> dict[str, Any]:
    return {"t_start_s": [60.0, 120.0, 180.0], **{f: {"mean": 1.0, "sd": 0.1, "band": 0.2} for f in FIGURES}}


def _ids(component: Any) -> set[str]:
    found = {component.id} if getattr(component, "id", None) else set()
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        found |= _ids(child)
    return found


def test_layout_has_every_panel() -> None:
    app = create_app(LiveState())
    assert {"status", "cards", "trace", "minutes", "confidence", "link", "tick", "cursor"} <= _ids(app.layout)


def test_first_tick_builds_then_only_new_rows_are_sent() -> None:
    state = LiveState(rate_hz=100.0, source="test")
    state.add_samples(np.arange(0, 3, 0.01), np.ones(300))
    state.add_steps([{"t_s": 1.0, "side": "L", "impact_g": 2.5, "contact_time_s": 0.23}], 1)
    state.add_minutes([_row(0, 170.0)])
    state.add_confidence(1.0, 0.9)
    out = refresh(state.snapshot(), None)
    status, cards, trace, minutes_fig, minutes_ext, conf_fig, conf_ext, _link, cursor = out
    assert "1 running steps" in status and len(cards) == 6
    assert minutes_fig is not no_update and minutes_ext is no_update and conf_fig is not no_update
    assert list(minutes_fig.data[0].x) == [0.0] and list(minutes_fig.data[0].y) == [170.0]
    assert list(trace.data[1].text) == ["L"]  # the step marked on the trace
    assert cursor["minutes_sent"] == 1

    state.add_minutes([_row(1, 168.0)])
    state.add_confidence(3.0, 0.95)
    out = refresh(state.snapshot(), cursor)
    minutes_fig, minutes_ext, conf_fig, conf_ext, cursor = out[3], out[4], out[5], out[6], out[8]
    assert minutes_fig is no_update and conf_fig is no_update  # extended, not rebuilt
    data, traces = minutes_ext
    assert traces == list(range(len(FIGURES))) and data["x"][0] == [1.0] and data["y"][0] == [168.0]
    assert conf_ext[0]["y"] == [[0.95]]
    out = refresh(state.snapshot(), cursor)
    assert out[4] is no_update and out[6] is no_update  # nothing new, nothing sent


def test_the_baseline_arriving_rebuilds_with_its_band() -> None:
    state = LiveState()
    state.add_minutes([_row(k, 170.0) for k in range(4)])
    cursor = refresh(state.snapshot(), None)[-1]
    state.set_current(
        {"cadence_spm": 1.5, "cadence_spm_drift": 0.5, "cadence_spm_drift_flag": True}, _baseline(), None
    )
    minutes_fig = refresh(state.snapshot(), cursor)[3]
    assert minutes_fig is not no_update
    rects = [s for s in minutes_fig.layout.shapes if s.type == "rect" and s.y0 is not None]
    assert any(abs(s.y0 - 0.8) < 1e-9 and abs(s.y1 - 1.2) < 1e-9 for s in rects)


def test_cards_colour_a_drift_beyond_the_band() -> None:
    state = LiveState()
    state.set_current(
        {"cadence_spm": 160.0, "cadence_spm_drift": -8.0, "cadence_spm_drift_flag": True}, _baseline(), None
    )
    cadence = render_cards(state.snapshot())[0]
    note = cadence.children[2]
    assert "-8.0 spm vs baseline" in note.children and note.style["color"] == FLAG_COLOUR
    state.set_current({"cadence_spm": 160.0}, None, 95.0)
    note = render_cards(state.snapshot())[0].children[2]
    assert note.children == "baseline in 1:35"
