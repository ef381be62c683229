"""``imu analyze``: the research contract on bundled, simulated, shared and broken recordings."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu import analyze
from imu.aggregates import MINUTE_COLUMNS, STEP_COLUMNS, relative_difference_pct
from imu.analyze import analyze_recording, clipped_samples
from imu.cli import main
from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError
from imu.samples import Recording, SampleBlock
from imu.sim.gait_model import FatigueSettings
from imu.sim.runner import RunnerSettings, SimulatedRun, simulate_run
from imu.sim.sensor import SensorSettings

REPO = Path(__file__).resolve().parents[1]
BUNDLED_RUN = REPO / "recordings" / "simulated_fatigue_run"
BUNDLED_ALCANTARA = REPO / "recordings" / "alcantara2022_sacral_running" / "Accelerometer_one_sub.csv"
OUTPUTS = ("steps.csv", "strides.csv", "minutes.csv", "summary.json", "steps.parquet", "minutes.parquet")


@cache
def sim(minutes: float = 1.5, seed: int = 11) -> SimulatedRun:
    return simulate_run(RunnerSettings(minutes=minutes, seed=seed))


def write_csv(path: Path, block: SampleBlock) -> Path:
    block.to_frame().to_csv(path, index=False)
    return path


def check_contract(folder: Path) -> dict:
    for name in OUTPUTS:
        assert (folder / name).is_file(), name
    steps = pd.read_csv(folder / "steps.csv")
    minutes = pd.read_csv(folder / "minutes.csv")
    assert list(steps.columns) == list(STEP_COLUMNS) and list(minutes.columns) == list(MINUTE_COLUMNS)
    parquet = pd.read_parquet(folder / "steps.parquet")
    for column, dtype in STEP_COLUMNS.items():
        found = parquet[column].dtype
        assert pd.api.types.is_string_dtype(found) if dtype == "object" else str(found) == dtype, column
    summary: dict = json.loads((folder / "summary.json").read_text())
    assert summary["software"]["name"] == "imu" and "not_computed" in summary
    return summary


# ---------------------------------------------------------------------------------------------- the contract
def test_cli_on_the_bundled_simulated_session(tmp_path: Path) -> None:
    assert main(["analyze", str(BUNDLED_RUN), "--out", str(tmp_path), "--to", "150"]) == 0
    summary = check_contract(tmp_path)
    steps = pd.read_csv(tmp_path / "steps.csv")
    minutes = pd.read_csv(tmp_path / "minutes.csv")
    assert summary["not_computed"] == {} and summary["input"]["has_gyr"]
    assert 150 < summary["cadence_spm"] < 190 and 0.15 < summary["contact_time_s"] < 0.35
    assert steps["impact_g"].between(1.2, 6.0).all() and steps["side"].isin(["L", "R", "?"]).all()
    # the live side and the smoothed one the figures use: both there, sure and agreeing on this steady run
    sides = summary["sides"]
    assert steps["side_smoothed"].isin(["L", "R", "?"]).all() and sides["figures_use"] == "side_smoothed"
    assert sides["n_sure_both"] > 0.95 * len(steps) and sides["n_live_differs"] <= 0.01 * len(steps)
    assert minutes["t_start_s"].tolist() == [0.0, 60.0, 120.0]
    assert minutes["tilt_rom_deg"].notna().all() and (minutes["n_steps"] > 0).all()


def test_cli_on_all_bundled_alcantara_trials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(BUNDLED_ALCANTARA), "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "pelvis angles: need a gyroscope" in err and "no mediolateral axis" in err
    folders = sorted(p for p in tmp_path.iterdir() if p.name.startswith("Accelerometer_one_sub_"))
    assert len(folders) == 31
    for folder in folders:
        summary = check_contract(folder)
        assert summary["n_running_steps"] >= 10 and "pelvis angles" in summary["not_computed"]
    dataset = pd.read_parquet(tmp_path / "dataset" / "steps")
    assert dataset["recording"].nunique() == 31 and (dataset["side"] == "?").all()
    assert len(pd.read_csv(tmp_path / "recordings.csv")) == 31


def test_acceleration_only_csv_says_what_it_could_not_compute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = sim().samples
    path = write_csv(tmp_path / "run.csv", SampleBlock(s.t_s, s.acc, None))
    assert main(["analyze", str(path), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pelvis angles" in err[0] and "sides: from acceleration alone" in err[0]
    summary = check_contract(tmp_path / "out")
    assert summary["n_running_steps"] > 100 and summary["tilt_rom_deg"] is None


def test_stated_mounting_is_used(tmp_path: Path) -> None:
    rec = Recording.from_samples(sim().samples, "sim")
    assert (
        main(
            [
                "analyze",
                str(BUNDLED_ALCANTARA) + "#2",
                "--out",
                str(tmp_path),
                "--mounting",
                "up=+x,forward=+y",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "summary.json").read_text())["frame"]["mounting"] == "stated"
    assert analyze_recording(rec).summary["frame"]["mounting"] == "found from the data"


# ---------------------------------------------------------------------------------------------- bad input
def test_nan_rows_become_gaps_and_are_counted() -> None:
    s = sim().samples
    acc = s.acc.copy()
    acc[5000:5010] = np.nan
    acc[9000, 1] = np.inf
    analysis = analyze_recording(Recording.from_samples(SampleBlock(s.t_s, acc, s.gyr), "nan"))
    assert analysis.summary["input"]["n_nonfinite_rows_dropped"] == 11
    assert analysis.summary["n_running_steps"] > 100 and np.isfinite(analysis.steps["impact_g"]).all()


@pytest.mark.parametrize("gyr", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e308])
def test_exactly_the_nonfinite_rows_are_dropped(gyr: bool, bad: float) -> None:
    """A NaN or infinity in any axis drops its row, acc or gyr; finite values whose sum overflows (1e308)
    drop nothing."""
    rng = np.random.default_rng(3)
    t = np.arange(50) / 100.0
    acc, rate = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    (rate if gyr else acc)[[7, 7, 30], [0, 2, 1]] = bad
    kept, dropped = analyze._finite_rows(SampleBlock(t, acc, rate))
    expected = [] if np.isfinite(bad) else [7, 30]
    assert dropped == len(expected)
    np.testing.assert_array_equal(kept.t_s, np.delete(t, expected))
    np.testing.assert_array_equal(kept.acc, np.delete(acc, expected, axis=0))


@pytest.mark.parametrize("seed", range(6))
def test_placement_figures_are_the_percentiles(seed: int) -> None:
    """The doubt (and its figure) is that of the percentiles of the norms, whether or not the maxima are
    beyond the limits (heavy-tailed motion at scales from trunk to foot)."""
    rng = np.random.default_rng(seed)
    for scale in (0.1, 1.0, 3.0, 10.0, 30.0):
        gyr = rng.standard_t(2, (2000, 3)) * 40.0 * scale
        acc = rng.standard_t(2, (2000, 3)) * 2.0 * scale
        gyr_p99 = np.percentile(np.linalg.norm(gyr, axis=1), 99)
        acc_p999_g = np.percentile(np.linalg.norm(acc, axis=1), 99.9) / STANDARD_GRAVITY_MS2
        for rate in (gyr, None):
            doubt = analyze._placement_doubt(SampleBlock(np.arange(2000) / 100.0, acc, rate))
            if rate is not None and gyr_p99 > analyze.LOWER_BACK_GYR_P99_MAX_DPS:
                assert doubt is not None and f"{gyr_p99:.0f} deg/s" in doubt
            elif acc_p999_g > analyze.LOWER_BACK_ACC_P999_MAX_G:
                assert doubt is not None and f"{acc_p999_g:.1f} g" in doubt
            else:
                assert doubt is None


def test_a_sensor_on_the_foot_is_questioned_not_crashed() -> None:
    """A shank/foot-like signal (swing at 1200 deg/s, 15 g impacts once a stride): empty typed running
    figures and a placement note; the bundled lower-back run raises no such doubt."""
    rate = 200.0
    t = np.arange(0, 60, 1 / rate)
    stride = 2 * np.pi * 1.4 * t
    gyr = np.column_stack([1200 * np.sin(stride), 50 * np.cos(stride), np.zeros_like(t)])
    acc = np.tile([0.0, 0.0, STANDARD_GRAVITY_MS2], (t.size, 1))
    acc[(np.arange(t.size) % int(rate / 1.4)) == 0, 2] = 15 * STANDARD_GRAVITY_MS2
    analysis = analyze_recording(Recording.from_samples(SampleBlock(t, acc, gyr), "foot"))
    assert "foot" in analysis.summary["not_computed"]["placement"]
    assert any(note.startswith("placement:") for note in analysis.notes)
    assert (
        "placement"
        not in analyze_recording(Recording.from_samples(sim().samples, "back")).summary["not_computed"]
    )


def test_low_rate_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = np.arange(0, 30, 1 / 25)
    acc = np.tile([0.0, 0.0, STANDARD_GRAVITY_MS2], (t.size, 1))
    path = write_csv(tmp_path / "slow.csv", SampleBlock(t, acc, None))
    assert main(["analyze", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "at least 50 Hz" in err and "25 Hz" in err


def test_no_running_gives_header_only_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(0, 60, 1 / 100)
    acc = rng.normal(0, 0.3, (t.size, 3)) + np.array([0.0, 0.0, STANDARD_GRAVITY_MS2])  # shaken on a table
    path = write_csv(tmp_path / "still.csv", SampleBlock(t, acc, rng.normal(0, 1, (t.size, 3))))
    assert main(["analyze", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "no running found" in capsys.readouterr().err
    summary = check_contract(tmp_path / "out")
    assert (
        pd.read_csv(tmp_path / "out" / "steps.csv").empty
        and pd.read_csv(tmp_path / "out" / "minutes.csv").empty
    )
    assert summary["cadence_spm"] is None and "running figures" in summary["not_computed"]


def test_clipping_at_the_sensor_range_is_flagged() -> None:
    run = simulate_run(
        RunnerSettings(minutes=1.0, seed=12, mounting="upright", sensor=SensorSettings(acc_range_g=2.5))
    )
    clipped = clipped_samples(run.samples.acc)
    assert clipped.any()
    analysis = analyze_recording(Recording.from_samples(run.samples, "clipped"))
    steps = analysis.steps
    flagged = steps["impact_clipped"]
    assert flagged.mean() > 0.2  # the steps whose peak reached 2.5 g on the sensor's vertical-most axis
    assert steps.loc[flagged, "impact_g"].min() > steps.loc[~flagged, "impact_g"].median()
    assert "clipped impacts" in analysis.summary["not_computed"]
    assert not clipped_samples(sim().samples.acc).any()


@settings(max_examples=200, deadline=None)
@given(
    levels=st.lists(
        st.lists(st.sampled_from([-30.0, -5.0, 0.0, 9.8, 30.0]), min_size=3, max_size=3), max_size=40
    )
)
def test_clipped_samples_are_runs_of_an_extreme(levels: list[list[float]]) -> None:
    """Against the definition: an axis' extreme beyond CLIP_MIN_G that holds for CLIP_RUN samples in a row
    marks every sample at it."""
    acc = np.array(levels, float).reshape(-1, 3)
    expected = np.zeros(acc.shape[0], bool)
    for column in acc.T:
        for extreme in (column.max(), column.min()) if column.size else ():
            at = column == extreme
            runs = [at[i : i + analyze.CLIP_RUN].all() for i in range(column.size - analyze.CLIP_RUN + 1)]
            if abs(extreme) >= analyze.CLIP_MIN_G * STANDARD_GRAVITY_MS2 and any(runs):
                expected |= at
    np.testing.assert_array_equal(clipped_samples(acc), expected)


def test_one_bad_input_among_several(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,acc_x\n0,1\n")
    assert main(["analyze", str(BUNDLED_ALCANTARA) + "#1", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "bad" in capsys.readouterr().err
    lines = pd.read_csv(tmp_path / "out" / "recordings.csv")
    assert lines["status"].str.startswith("error").tolist() == [False, True]
    assert (tmp_path / "out" / "Accelerometer_one_sub_1" / "steps.csv").is_file()


def test_a_window_outside_the_recording_is_refused() -> None:
    with pytest.raises(InputError, match="--from"):
        analyze_recording(Recording.from_samples(sim().samples, "sim"), from_s=1e4)


# ---------------------------------------------------------------------------------------------- asymmetry
def truth_asymmetry_per_minute(run: SimulatedRun) -> pd.Series:
    truth = run.steps
    prev, cur = truth.iloc[:-1].reset_index(drop=True), truth.iloc[1:].reset_index(drop=True)
    left_first = (prev["side"] == "L").to_numpy()
    a, b = prev["impact_g"].to_numpy(), cur["impact_g"].to_numpy()
    pairs = relative_difference_pct(np.where(left_first, a, b), np.where(left_first, b, a))
    return pd.Series(pairs).groupby((cur["t_ic_s"] // 60).astype(int).to_numpy()).mean()


@pytest.mark.parametrize(("seed", "asymmetry_pct"), [(4242, 12.0), (4343, -8.0)])
def test_impact_asymmetry_on_the_simulated_runner(seed: int, asymmetry_pct: float) -> None:
    """Injected asymmetry ramps from 0 to the given value; each full minute within 2 percentage points."""
    run = simulate_run(
        RunnerSettings(minutes=4.0, seed=seed, fatigue=FatigueSettings(asymmetry_pct=asymmetry_pct))
    )
    minutes = analyze_recording(Recording.from_samples(run.samples, "sim")).minutes
    truth = truth_asymmetry_per_minute(run)
    full = minutes[minutes["running_s"] > 50]
    error = (
        full["impact_asymmetry_pct"].to_numpy() - truth.loc[(full["t_start_s"] // 60).astype(int)].to_numpy()
    )
    assert len(full) >= 3 and (full["n_pairs"] > 100).all()
    assert np.all(np.abs(error) < 2.0), error


# ---------------------------------------------------------------------------------------------- shared data
SHARED_FILES = (
    "alcantara2022_sacral_running_grf/data/Accelerometer_one_sub.csv#5",
    "alcantara2022_sacral_running_grf/data/Sample_test_data.csv",
    "voisard2023_L5_walking_subjects01-09/GaitData/2-3_lb.txt",
    "sisfall_waist_walk_jog_subset/SisFall_D01-D04_SA01-SA11_SE01-SE07.tar.xz#D03_SA01_R01.txt",
    "extras_lumbar_format_samples/gaitpy/demo_data.csv",
    "extras_lumbar_format_samples/skdh/gnactv_sample.bin",
    "extras_lumbar_format_samples/skdh/gait_input.npz",
    "extras_lumbar_format_samples/skdh/ax6_sample.cwa",
    "extras_lumbar_format_samples/skdh/ax3_sample.cwa",
)


@pytest.mark.realdata
@pytest.mark.parametrize("name", SHARED_FILES)
def test_every_shared_format_meets_the_contract(shared_data: Path, tmp_path: Path, name: str) -> None:
    assert main(["analyze", str(shared_data / name), "--out", str(tmp_path), "--to", "120"]) == 0
    check_contract(tmp_path)


@pytest.mark.realdata
def test_sisfall_jogging_cadence(shared_data: Path, tmp_path: Path) -> None:
    assert main(["analyze", str(shared_data / SHARED_FILES[3]), "--out", str(tmp_path)]) == 0
    summary = check_contract(tmp_path)
    assert summary["n_running_steps"] > 150 and 140 < summary["cadence_spm"] < 200


@pytest.mark.realdata
def test_no_trunk_recording_is_questioned_for_placement(shared_data: Path) -> None:
    """Every waist / L5 / sacrum recording in the shared data passes the placement check (71 SisFall
    walking and jogging trials, 52 Voisard trials, the Alcantara trials)."""
    from imu.analyze import _placement_doubt
    from imu.io.load import load_recordings

    sources = [
        shared_data / "sisfall_waist_walk_jog_subset" / "SisFall_D01-D04_SA01-SA11_SE01-SE07.tar.xz",
        *sorted((shared_data / "voisard2023_L5_walking_subjects01-09" / "GaitData").glob("*_lb.txt")),
        BUNDLED_ALCANTARA,
    ]
    doubted = [r.source for path in sources for r in load_recordings(path) if _placement_doubt(r.samples)]
    assert doubted == []


@pytest.mark.parametrize("text", [["L", "R", "?"], ["a,b", 'say "x"', "two\nlines"]])
def test_csv_is_what_pandas_writes(tmp_path: Path, text: list[str]) -> None:
    """The fast CSV writer against ``DataFrame.to_csv``, byte for byte: floats of every magnitude and sign
    (shortest repr, scientific from 1e16 and below 1e-4), NaN, infinities, integers, booleans, text that
    needs quoting, objects of mixed types, and a header-only table."""
    rng = np.random.default_rng(7)
    floats = rng.normal(size=300) * 10.0 ** rng.integers(-20, 20, 300)
    floats[:8] = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e16, 1e-5, 1 / 3]
    frame = pd.DataFrame(
        {
            "x_s": floats,
            "n": rng.integers(-5, 5, 300),
            "flag": rng.random(300) < 0.5,
            "side": pd.Series(rng.choice(np.array([*text, None], dtype=object), 300), dtype=object),
            "mixed": pd.Series(
                rng.choice(np.array([1, 2.5, None, np.nan, "a"], dtype=object), 300), dtype=object
            ),
        }
    )
    for table in (frame, frame.iloc[:0], frame[["x_s"]]):
        analyze.write_csv(table, tmp_path / "ours.csv")
        table.to_csv(tmp_path / "pandas.csv", index=False)
        assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


@settings(max_examples=200, deadline=None)
@given(
    bits=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=200),
    whole=st.lists(st.integers(-(2**60), 2**60), max_size=50),
    decimal=st.lists(st.tuples(st.integers(-(10**17), 10**17), st.integers(-330, 310)), max_size=50),
)
def test_float_cells_are_python_repr(
    bits: list[int], whole: list[int], decimal: list[tuple[int, int]]
) -> None:
    """Every float64 (any bit pattern: every magnitude, subnormals, both zeros, NaN, infinities; whole
    numbers; short decimals such as 0.1 or 1e-05 whose digits could tie) gets ``repr``'s text, NaN an
    empty cell."""
    x = np.concatenate(
        [
            np.array(bits, np.uint64).view(np.float64),
            np.array(whole, np.float64),
            np.array([float(f"{m}e{e}") for m, e in decimal], np.float64),
        ]
    )
    expected = ["" if v != v else repr(v) for v in x.tolist()]
    assert analyze._float_cells(x).to_pylist() == expected
