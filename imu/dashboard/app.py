"""The dashboard page: how the running form drifts from the runner's fresh baseline, as it happens.

Layout, top to bottom: a status line; the "now" figures (rolling last 60 s) as big numbers, each with its
drift from the baseline, coloured when beyond the baseline's band (:mod:`imu.fatigue`); the last seconds
of vertical acceleration with the detected steps marked L / R; the per-minute figures against the baseline
band; the body-frame confidence; the link statistics (live only).

Updates: a ``dcc.Interval`` fires every ``interval_ms``; the callback takes a :class:`Snapshot` of the
shared state and sends only what is new. The per-minute and confidence plots grow through ``extendData``
(the browser appends the new points; nothing is recomputed), and are rebuilt whole only on the first tick,
when the baseline becomes known (its band is drawn then) and when the minute table is replaced at the end
of a run. The short acceleration window is small and is replaced each tick. The rendering functions are
plain functions of a snapshot and a cursor, so tests call them without a browser.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update
from plotly.subplots import make_subplots

from imu.dashboard.state import LiveState, Snapshot
from imu.fatigue import FIGURES

TRACE_WINDOW_S = 6.0
"""Seconds of vertical acceleration shown."""

MIN_SHOWN_RUNNING_S = 30.0
"""Minutes with less running than this (a run's last, partial minute) are left out of the plots: a few
seconds of steps make a noisy point (they stay in the minutes table)."""

FLAG_COLOUR = "#d62728"
CALM_COLOUR = "#2ca02c"
MUTED = "#6b7280"
SIDE_COLOURS = {"L": "#1f77b4", "R": "#ff7f0e"}

# column -> (label, unit shown, scale from the column's unit, decimals)
DISPLAY: dict[str, tuple[str, str, float, int]] = {
    "cadence_spm": ("Cadence", "spm", 1.0, 1),
    "contact_time_s": ("Contact time", "ms", 1000.0, 0),
    "impact_g": ("Impact", "g", 1.0, 2),
    "impact_asymmetry_pct": ("Impact asymmetry (L−R)", "%", 1.0, 1),
    "tilt_mean_deg": ("Pelvic tilt", "°", 1.0, 1),
    "tilt_rom_deg": ("Tilt ROM", "°", 1.0, 1),
    "tilt_rom_sd_deg": ("Tilt variability (SD of ROM)", "°", 1.0, 2),
    "obliquity_rom_deg": ("Obliquity ROM", "°", 1.0, 1),
    "rotation_rom_deg": ("Rotation ROM", "°", 1.0, 1),
}

BIG_NUMBERS = (
    "cadence_spm",
    "contact_time_s",
    "impact_g",
    "impact_asymmetry_pct",
    "tilt_mean_deg",
    "tilt_rom_sd_deg",
)

LINK_FIELDS = (
    ("connected", "connected"),
    ("packets", "packets"),
    ("lost_packets", "lost packets"),
    ("gaps", "gaps"),
    ("reconnects", "reconnects"),
    ("queue_drops", "dropped by host"),
    ("decode_errors", "malformed"),
    ("queue_delay_ms", "queue delay (ms)"),
    ("queue_delay_max_ms", "worst queue delay (ms)"),
    ("drift_ppm", "clock drift (ppm)"),
)

CARD_STYLE = {
    "flex": "1 1 150px",
    "padding": "10px 14px",
    "border": "1px solid #e5e7eb",
    "borderRadius": "8px",
    "background": "white",
}


# ---------------------------------------------------------------------------------------------- helpers
def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and bool(np.isfinite(value))


def _fmt(column: str, value: Any, *, signed: bool = False) -> str:
    if not _finite(value):
        return "–"
    _, _, scale, decimals = DISPLAY[column]
    return f"{value * scale:{'+' if signed else ''}.{decimals}f}"


def _clock(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "–"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# ---------------------------------------------------------------------------------------------- rendering
def render_cards(snap: Snapshot) -> list[Any]:
    """The big numbers: the rolling figure, its unit, and its drift from the baseline."""
    cur = snap.current
    cards = []
    for column in BIG_NUMBERS:
        label, unit, _, _ = DISPLAY[column]
        value = _fmt(column, cur.get(column))
        if column == "impact_g":
            label = "Impact L / R"
            value = f"{_fmt(column, cur.get('impact_L_g'))} / {_fmt(column, cur.get('impact_R_g'))}"
        drift = cur.get(f"{column}_drift")
        if snap.baseline is None:
            eta = snap.baseline_eta_s
            note, colour = ("baseline in " + _clock(eta) if eta is not None else "baseline: waiting"), MUTED
        elif _finite(drift):
            flagged = bool(cur.get(f"{column}_drift_flag"))
            note = f"{_fmt(column, drift, signed=True)} {unit} vs baseline" + (" ▲" if flagged else "")
            colour = FLAG_COLOUR if flagged else CALM_COLOUR
        else:
            note, colour = "no baseline value", MUTED
        cards.append(
            html.Div(
                [
                    html.Div(label, style={"fontSize": "13px", "color": MUTED}),
                    html.Div(
                        [value, html.Span(f" {unit}", style={"fontSize": "15px", "color": MUTED})],
                        className="big-number",
                        id=f"big-{column}",
                        style={"fontSize": "30px", "fontWeight": 600},
                    ),
                    html.Div(note, className="drift", style={"fontSize": "13px", "color": colour}),
                ],
                style={**CARD_STYLE, "borderLeft": f"5px solid {colour}"},
            )
        )
    return cards


def render_status(snap: Snapshot) -> str:
    return (
        f"{snap.source} · {snap.status} · {_clock(snap.data_t_s)} of recording · "
        f"{snap.n_running_steps} running steps · {snap.n_minutes} minutes"
    )


def render_trace(snap: Snapshot) -> go.Figure:
    """The last :data:`TRACE_WINDOW_S` s of vertical acceleration (g) with the steps marked L / R."""
    fig = go.Figure()
    trace = snap.trace
    if len(trace):
        end = float(trace[-1, 0])
        shown = trace[trace[:, 0] >= end - TRACE_WINDOW_S]
        fig.add_trace(
            go.Scattergl(
                x=shown[:, 0],
                y=shown[:, 1],
                mode="lines",
                line={"color": "#374151", "width": 1},
                name="vertical",
            )
        )
        for side, colour in SIDE_COLOURS.items():
            steps = [s for s in snap.steps if s["side"] == side and s["t_s"] >= end - TRACE_WINDOW_S]
            fig.add_trace(
                go.Scatter(
                    x=[s["t_s"] for s in steps],
                    y=[s["impact_g"] for s in steps],
                    mode="markers+text",
                    text=[side] * len(steps),
                    textposition="top center",
                    marker={"color": colour, "size": 9, "symbol": "triangle-down"},
                    name=f"{side} step (impact)",
                )
            )
    fig.update_layout(
        margin={"l": 50, "r": 10, "t": 30, "b": 35},
        height=240,
        title={
            "text": "Vertical acceleration; steps at their impact peak, L blue, R orange",
            "font": {"size": 14},
        },
        xaxis_title="recording time (s)",
        yaxis_title="g",
        uirevision="trace",
        showlegend=False,
        plot_bgcolor="white",
    )
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


def _minute_points(
    rows: list[dict[str, Any]],
) -> tuple[list[list[float]], list[list[float]], list[list[str]]]:
    xs, ys, colours = [], [], []
    for column in FIGURES:
        scale = DISPLAY[column][2]
        x, y, c = [], [], []
        for r in rows:
            v: Any = r.get(column)
            if _finite(v) and r.get("running_s", 0.0) >= MIN_SHOWN_RUNNING_S:
                x.append(r["t_start_s"] / 60.0)
                y.append(float(v) * scale)
                c.append(FLAG_COLOUR if r.get(f"{column}_drift_flag") else "#1f2937")
        xs.append(x)
        ys.append(y)
        colours.append(c)
    return xs, ys, colours


def render_minutes(snap: Snapshot) -> go.Figure:
    """Every per-minute figure over the run, with the baseline mean and band (mean ± band)."""
    titles = [f"{DISPLAY[c][0]} ({DISPLAY[c][1]})" for c in FIGURES]
    fig = make_subplots(rows=3, cols=3, subplot_titles=titles, horizontal_spacing=0.07, vertical_spacing=0.12)
    xs, ys, colours = _minute_points(snap.minutes)
    for k, column in enumerate(FIGURES):
        row, col = k // 3 + 1, k % 3 + 1
        fig.add_trace(
            go.Scatter(
                x=xs[k],
                y=ys[k],
                mode="lines+markers",
                line={"color": "#9ca3af", "width": 1},
                marker={"color": colours[k], "size": 6},
                name=column,
                showlegend=False,
            ),
            row=row,
            col=col,
        )
        base = snap.baseline
        if base is not None and _finite(base[column]["mean"]):
            scale = DISPLAY[column][2]
            mean, band = base[column]["mean"] * scale, base[column]["band"] * scale
            fig.add_hrect(
                y0=mean - band,
                y1=mean + band,
                fillcolor="#93c5fd",
                opacity=0.3,
                line_width=0,
                row=row,
                col=col,
            )
            fig.add_hline(y=mean, line={"color": "#2563eb", "width": 1, "dash": "dot"}, row=row, col=col)
    if snap.baseline is not None and snap.baseline["t_start_s"]:
        t = snap.baseline["t_start_s"]
        for k in range(len(FIGURES)):
            fig.add_vrect(
                x0=min(t) / 60.0,
                x1=max(t) / 60.0 + 1.0,
                fillcolor="#e5e7eb",
                opacity=0.5,
                line_width=0,
                row=k // 3 + 1,
                col=k % 3 + 1,
            )
    fig.update_layout(
        height=620,
        margin={"l": 45, "r": 10, "t": 60, "b": 35},
        title={
            "text": "Per minute: band = baseline ± max(2 SD, floor); red = drift beyond it; grey = baseline",
            "font": {"size": 14},
        },
        plot_bgcolor="white",
        uirevision="minutes",
    )
    fig.update_annotations(font_size=12)
    fig.update_xaxes(gridcolor="#eee", title_text=None)
    fig.update_xaxes(title_text="minute", row=3)
    fig.update_yaxes(gridcolor="#eee")
    return fig


def minutes_extension(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[int]] | None:
    """``extendData`` for :func:`render_minutes`' traces: the new rows only (None when there are none)."""
    if not rows:
        return None
    xs, ys, colours = _minute_points(rows)
    return {"x": xs, "y": ys, "marker.color": colours}, list(range(len(FIGURES)))


def render_confidence(points: np.ndarray) -> go.Figure:
    fig = go.Figure(
        go.Scatter(  # plain lists: the browser extends them (a typed array would not grow)
            x=(points[:, 0] / 60.0).tolist(),
            y=points[:, 1].tolist(),
            mode="lines",
            line={"color": "#7c3aed"},
            name="confidence",
        )
    )
    fig.update_layout(
        height=200,
        margin={"l": 45, "r": 10, "t": 30, "b": 35},
        title={"text": "Body-frame confidence (0–1)", "font": {"size": 14}},
        xaxis_title="minute",
        yaxis={"range": [0, 1.05]},
        plot_bgcolor="white",
        uirevision="confidence",
    )
    return fig


def render_link(snap: Snapshot) -> Any:
    if snap.link is None:
        return html.Div("replay of a recording: no link", style={"color": MUTED})
    rows = []
    for key, label in LINK_FIELDS:
        v = snap.link.get(key)
        text = f"{v:.1f}" if isinstance(v, float) else str(v)
        rows.append(html.Tr([html.Td(label, style={"color": MUTED, "paddingRight": "12px"}), html.Td(text)]))
    return html.Table(rows, id="link-table")


def refresh(snap: Snapshot, cursor: dict[str, Any] | None) -> tuple[Any, ...]:
    """Everything one interval tick sends (see :func:`create_app` for the outputs), and the new cursor."""
    cursor = dict(cursor or {})
    rebuild = (
        cursor.get("minutes_version") != snap.minutes_version
        or cursor.get("baseline") != (snap.baseline is not None)
        or "minutes_sent" not in cursor
    )
    sent = int(cursor.get("minutes_sent", 0))
    minutes_fig: Any
    minutes_ext: Any
    conf_fig: Any
    conf_ext: Any
    if rebuild:
        minutes_fig, minutes_ext = render_minutes(snap), no_update
    else:
        new = snap.minutes[sent:]
        ext = minutes_extension(new)
        minutes_fig, minutes_ext = no_update, (no_update if ext is None else ext)
    sent_t = cursor.get("confidence_t")
    conf_t = float(sent_t) if sent_t is not None and not rebuild else -np.inf
    new_conf = snap.confidence[snap.confidence[:, 0] > conf_t] if len(snap.confidence) else snap.confidence
    if rebuild:
        conf_fig, conf_ext = render_confidence(snap.confidence), no_update
    else:
        conf_fig = no_update
        conf_ext = (
            ({"x": [(new_conf[:, 0] / 60.0).tolist()], "y": [new_conf[:, 1].tolist()]}, [0])
            if len(new_conf)
            else no_update
        )
    if len(snap.confidence):
        conf_t = float(snap.confidence[-1, 0])
    cursor.update(
        minutes_version=snap.minutes_version,
        baseline=snap.baseline is not None,
        minutes_sent=snap.n_minutes,
        confidence_t=conf_t if np.isfinite(conf_t) else None,
        steps=snap.n_running_steps,
    )
    return (
        render_status(snap),
        render_cards(snap),
        render_trace(snap),
        minutes_fig,
        minutes_ext,
        conf_fig,
        conf_ext,
        render_link(snap),
        cursor,
    )


# ---------------------------------------------------------------------------------------------- the app
def layout(interval_ms: int) -> Any:
    graph_config: Any = {"displaylogo": False}
    return html.Div(
        [
            html.H2("imu · running form against your fresh baseline", style={"margin": "4px 0"}),
            html.Div(id="status", style={"color": MUTED, "marginBottom": "10px"}),
            html.Div(id="cards", style={"display": "flex", "flexWrap": "wrap", "gap": "10px"}),
            dcc.Graph(id="trace", config=graph_config),
            dcc.Graph(id="minutes", config=graph_config),
            html.Div(
                [
                    html.Div(dcc.Graph(id="confidence", config=graph_config), style={"flex": "2 1 400px"}),
                    html.Div(
                        [html.H4("Link", style={"margin": "6px 0"}), html.Div(id="link")],
                        style={"flex": "1 1 250px", "padding": "0 12px"},
                    ),
                ],
                style={"display": "flex", "flexWrap": "wrap"},
            ),
            dcc.Interval(id="tick", interval=interval_ms),
            dcc.Store(id="cursor"),
        ],
        style={
            "fontFamily": "system-ui, -apple-system, Segoe UI, sans-serif",
            "background": "#f9fafb",
            "padding": "12px 18px",
        },
    )


def create_app(state: LiveState, *, interval_ms: int = 1000) -> Dash:
    """The Dash app reading ``state`` (the producer thread writes it)."""
    app = Dash(__name__, title="imu live", update_title="")
    app.layout = layout(interval_ms)

    @app.callback(
        Output("status", "children"),
        Output("cards", "children"),
        Output("trace", "figure"),
        Output("minutes", "figure"),
        Output("minutes", "extendData"),
        Output("confidence", "figure"),
        Output("confidence", "extendData"),
        Output("link", "children"),
        Output("cursor", "data"),
        Input("tick", "n_intervals"),
        State("cursor", "data"),
    )
    def _tick(_: int | None, cursor: dict[str, Any] | None) -> tuple[Any, ...]:
        return refresh(state.snapshot(), cursor)

    return app
