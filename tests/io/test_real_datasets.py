"""Importers of the public data sets, checked against the raw files and their independent companion tables."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imu.constants import STANDARD_GRAVITY_MS2
from imu.io.load import load_recording, load_recordings

pytestmark = pytest.mark.realdata

ALC = "alcantara2022_sacral_running_grf"
VOI = "voisard2023_L5_walking_subjects01-09/GaitData"
SIS = "sisfall_waist_walk_jog_subset/SisFall_D01-D04_SA01-SA11_SE01-SE07.tar.xz"


# ------------------------------------------------------------------------------------------ Alcantara
@pytest.fixture(scope="module")
def alcantara(shared_data: Path) -> list:
    return load_recordings(shared_data / ALC / "data/Accelerometer_one_sub.csv")


def test_alcantara_trials_axes_and_units(alcantara: list, shared_data: Path) -> None:
    raw = np.loadtxt(shared_data / ALC / "data/Accelerometer_one_sub.csv", delimiter=",")
    assert len(alcantara) == raw.shape[0] == 31
    n = raw.shape[1] // 2
    for i in (0, 17, 30):
        rec = alcantara[i]
        assert rec.rate_hz == 500.0 and len(rec.samples) == n
        np.testing.assert_allclose(rec.samples.acc[:, 0], raw[i, :n] * STANDARD_GRAVITY_MS2)
        np.testing.assert_allclose(rec.samples.acc[:, 1], raw[i, n:] * STANDARD_GRAVITY_MS2)
        assert np.all(rec.samples.acc[:, 2] == 0) and rec.meta["axes_present"] == ["acc_x", "acc_y"]
        assert rec.meta["licence"] == "Apache-2.0" and "PeerJ" in rec.meta["citation"]


def test_alcantara_conditions_agree_with_the_independent_summary(alcantara: list, shared_data: Path) -> None:
    summary = pd.read_csv(shared_data / ALC / "derived_trial_summary.csv")
    speeds = [r.meta["trial"]["speed_mps"] for r in alcantara]
    slopes = [r.meta["trial"]["slope_deg"] for r in alcantara]
    np.testing.assert_allclose(speeds, summary["speed_mps"])
    np.testing.assert_allclose(slopes, summary["slope_deg"])
    assert [len(r.truth["contacts"]) for r in alcantara] == summary["n_contacts"].tolist()


def test_alcantara_contacts_sit_on_force_and_acceleration(alcantara: list) -> None:
    total = 0
    for rec in alcantara:
        contacts, grf = rec.truth["contacts"], rec.truth["grf"]
        total += len(contacts)
        assert contacts["ic_index"].dtype == np.int64
        stance = np.zeros(len(rec.samples), bool)
        for ic, to in zip(contacts["ic_index"], contacts["to_index"], strict=True):
            stance[ic:to] = True
        # the contacts were derived from GRF > 5 % BW; the vertical acceleration, a separate sensor, agrees
        assert grf["grf_v_bw"].to_numpy()[stance].min() > 0.05
        assert rec.samples.acc[stance, 0].mean() > 1.2 * STANDARD_GRAVITY_MS2
    assert total == 466


def test_imeasureu_sample(shared_data: Path) -> None:
    path = shared_data / ALC / "data/Sample_test_data.csv"
    rec = load_recording(path)
    raw = pd.read_csv(path)
    assert rec.meta["format"] == "imeasureu" and not rec.samples.has_gyr
    assert len(rec.samples) == len(raw) and rec.rate_hz == pytest.approx(512.0, rel=1e-3)
    np.testing.assert_allclose(rec.samples.acc, raw[["Accel_LN_X", "Accel_LN_Y", "Accel_LN_Z"]].to_numpy())


# ------------------------------------------------------------------------------------------ Voisard
def test_voisard_time_from_packet_counter(shared_data: Path) -> None:
    path = shared_data / VOI / "4-1_lb.txt"
    rec = load_recording(path)
    raw = pd.read_csv(path, sep="\t", skiprows=1)
    counter = raw["PacketCounter"].to_numpy()
    np.testing.assert_allclose(rec.samples.t_s, (counter - counter[0]) / 100.0)
    np.testing.assert_allclose(rec.samples.gyr, np.degrees(raw[["Gyr_X", "Gyr_Y", "Gyr_Z"]].to_numpy()))
    lost = int(counter[-1] - counter[0] + 1 - len(counter))
    assert lost > 0 and rec.meta["packets_lost"] == lost
    assert sum(g.missing_samples for g in rec.gaps()) == lost
    assert "sides_suspect" in rec.meta and rec.meta["placement"] == "lower back (L5)"


def test_voisard_events_are_swing_phase_bounds(shared_data: Path) -> None:
    rec = load_recording(shared_data / VOI / "2-3_lb.txt")
    labels = json.loads((shared_data / VOI / "2-3.json").read_text())
    events = rec.truth["events"]
    for foot, key in (("L", "LeftFootEvents"), ("R", "RightFootEvents")):
        mine = events[events["foot"] == foot]
        np.testing.assert_allclose(mine.loc[mine["event"] == "TO", "t_s"], [a / 100 for a, _ in labels[key]])
        np.testing.assert_allclose(mine.loc[mine["event"] == "IC", "t_s"], [b / 100 for _, b in labels[key]])
    assert events["t_s"].is_monotonic_increasing and "sides_suspect" not in rec.meta
    # swing lasts about 0.3-0.6 s in walking
    swing = np.array([b - a for a, b in labels["LeftFootEvents"]]) / 100
    assert 0.3 < np.median(swing) < 0.6


# ------------------------------------------------------------------------------------------ SisFall
def test_sisfall_member_units_against_raw_counts(shared_data: Path) -> None:
    archive = shared_data / SIS
    member = "SisFall_dataset/SA01/D03_SA01_R01.txt"
    rec = load_recording(f"{archive}#D03_SA01_R01.txt")
    with tarfile.open(archive, "r:xz") as tar:
        data = tar.extractfile(member)
        assert data is not None
        first = [int(v) for v in data.readline().decode().strip().rstrip(";").split(",")]
    np.testing.assert_allclose(rec.samples.acc[0], np.array(first[:3]) * 32 / 8192 * STANDARD_GRAVITY_MS2)
    np.testing.assert_allclose(rec.samples.gyr[0], np.array(first[3:6]) * 4000 / 65536)
    assert rec.rate_hz == 200.0 and rec.duration_s == pytest.approx(100.0, abs=0.01)
    assert rec.meta["activity"] == "jogging slowly" and rec.source == f"{archive}#{member}"
    # the Y axis is vertical: about -1 g on average
    assert rec.samples.acc[:, 1].mean() == pytest.approx(-STANDARD_GRAVITY_MS2, rel=0.1)


def test_sisfall_extracted_txt_reads_the_same(shared_data: Path, tmp_path: Path) -> None:
    archive = shared_data / SIS
    with tarfile.open(archive, "r:xz") as tar:
        data = tar.extractfile("SisFall_dataset/SA01/D01_SA01_R01.txt")
        assert data is not None
        (tmp_path / "D01_SA01_R01.txt").write_bytes(data.read())
    loose = load_recording(tmp_path / "D01_SA01_R01.txt")
    inside = load_recording(f"{archive}#SisFall_dataset/SA01/D01_SA01_R01.txt")
    np.testing.assert_array_equal(loose.samples.acc, inside.samples.acc)
    assert loose.meta["age_group"] == "19–30 y" and loose.meta["activity"] == "walking slowly"
