"""Device-file importers: Axivity .cwa, GENEActiv .bin and CSV, scikit-digital-health .npz.

Three layers: synthetic files whose every value is known (decoding, scales, timing, damage), the real
sample files in ``shared/data/extras_lumbar_format_samples`` (shapes, rates, gravity ≈ 1 g, gyroscope
scale checked against gravity's rotation, an independent reader's output), and bad input.
"""

from __future__ import annotations

import itertools
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imu.constants import STANDARD_GRAVITY_MS2
from imu.errors import InputError, UnsupportedFormatError
from imu.io.importers import cwa, gaitpy_csv, geneactiv, skdh_npz
from imu.io.load import load_recording, load_recordings
from imu.samples import Recording

G = STANDARD_GRAVITY_MS2
SAMPLES = "extras_lumbar_format_samples"


# ============================================================================ synthetic CWA files
def _packed_date(when: datetime) -> int:
    return (
        ((when.year - 2000) << 26)
        | (when.month << 22)
        | (when.day << 17)
        | (when.hour << 12)
        | (when.minute << 6)
        | when.second
    )


def _cwa_header(hardware: int = 0x17) -> bytes:
    h = bytearray(b"\xff" * 1024)
    h[0:2] = b"MD"
    h[2:4] = (1020).to_bytes(2, "little")
    h[4] = hardware
    h[64:512] = b"_p=Lower%20back".ljust(448, b" ")
    return bytes(h)


def _cwa_block(
    seq: int,
    anchor_unix_s: float,
    payload: bytes,
    *,
    count: int,
    axes_packing: int = 0x30,
    light_scale: int = 0,
    rate_code: int = 0x4A,  # 100 Hz, ±8 g
    events: int = 0,
    anchor_sample: int = 0,
) -> bytes:
    """One data block whose sample ``anchor_sample`` is at ``anchor_unix_s`` (fractional time stamp)."""
    whole = int(np.floor(anchor_unix_s))
    frac15 = round((anchor_unix_s - whole) * 32768)
    if frac15 == 32768:
        whole, frac15 = whole + 1, 0
    rate = int(3200 / (1 << (15 - (rate_code & 0x0F))))
    stored_offset = anchor_sample - (((frac15 << 1) * rate) >> 16)  # the device's backwards-compatible shift
    b = bytearray(512)
    b[0:2] = b"AX"
    b[2:4] = (508).to_bytes(2, "little")
    b[4:6] = (0x8000 | frac15).to_bytes(2, "little")
    b[6:10] = (7).to_bytes(4, "little")
    b[10:14] = seq.to_bytes(4, "little")
    b[14:18] = _packed_date(datetime.utcfromtimestamp(whole)).to_bytes(4, "little")
    b[18:20] = light_scale.to_bytes(2, "little")
    b[22] = events
    b[24] = rate_code
    b[25] = axes_packing
    b[26:28] = stored_offset.to_bytes(2, "little", signed=True)
    b[28:30] = count.to_bytes(2, "little")
    b[30 : 30 + len(payload)] = payload
    b[510:512] = (-int(np.frombuffer(bytes(b[:510]), "<u2").sum()) & 0xFFFF).to_bytes(2, "little")
    return bytes(b)


def _packed(xyz: np.ndarray, exponent: np.ndarray) -> bytes:
    x, y, z = (xyz.astype(np.int64) & 0x3FF).T
    return ((x | (y << 10) | (z << 20) | (exponent.astype(np.int64) << 30)).astype("<u4")).tobytes()


def _still_ax3(n_blocks: int, rate_hz: float, t0: float = 1.6e9 + 0.25) -> list[bytes]:
    """AX3 blocks of a still sensor (z = +1 g) whose clock runs at ``rate_hz``."""
    xyz = np.tile([0, 0, 256], (120, 1))
    return [
        _cwa_block(k, t0 + k * 120 / rate_hz, _packed(xyz, np.zeros(120)), count=120) for k in range(n_blocks)
    ]


def _write(tmp_path: Path, blocks: list[bytes], name: str = "synthetic.cwa") -> Path:
    path = tmp_path / name
    path.write_bytes(_cwa_header() + b"".join(blocks))
    return path


def test_cwa_packed_values_sign_exponent_and_scale(tmp_path: Path) -> None:
    xyz = np.zeros((120, 3), dtype=np.int64)
    exponent = np.zeros(120, dtype=np.int64)
    xyz[0] = (256, -256, -512)  # +1 g, -1 g, -2 g at 1/256 g per count
    xyz[1] = (511, 100, -1)
    exponent[1] = 2  # values shifted left by 2: 2044, 400, -4 counts
    path = _write(tmp_path, [_cwa_block(0, 1.6e9, _packed(xyz, exponent), count=120)])
    (rec,) = cwa.read(path)
    np.testing.assert_allclose(rec.samples.acc[0] / G, [1.0, -1.0, -2.0])
    np.testing.assert_allclose(rec.samples.acc[1] / G, np.array([2044, 400, -4]) / 256)
    assert rec.samples.gyr is None
    assert rec.meta["device"] == "Axivity AX3"
    assert rec.meta["placement"] == "Lower back"
    assert rec.meta["acc_range_g"] == 8


def test_cwa_unpacked_six_axes_put_gyroscope_first(tmp_path: Path) -> None:
    values = np.zeros((40, 6), dtype=np.int16)
    values[:, 0:3] = (16384, -8192, 0)  # gyro: 2000 deg/s over 32768 counts → 1000, -500, 0 deg/s
    values[:, 3:6] = (0, 0, 2048)  # accel: 1/2048 g per count → +1 g on z
    block = _cwa_block(
        0,
        1.6e9,
        values.astype("<i2").tobytes(),
        count=40,
        axes_packing=0x62,
        light_scale=(3 << 13) | (2 << 10),
    )
    path = tmp_path / "ax6.cwa"
    path.write_bytes(_cwa_header(hardware=0x64) + block)
    (rec,) = cwa.read(path)
    assert rec.samples.gyr is not None
    np.testing.assert_allclose(rec.samples.gyr[0], [1000.0, -500.0, 0.0])
    np.testing.assert_allclose(rec.samples.acc[0] / G, [0.0, 0.0, 1.0])
    assert rec.meta["device"] == "Axivity AX6"
    assert rec.meta["gyr_range_dps"] == 2000.0


def test_cwa_times_follow_the_device_clock_not_the_configured_rate(tmp_path: Path) -> None:
    (rec,) = cwa.read(_write(tmp_path, _still_ax3(20, rate_hz=97.0)))  # configured 100 Hz
    dt = np.diff(rec.samples.t_s)
    np.testing.assert_allclose(dt, 1 / 97.0, rtol=1e-3)
    assert rec.rate_hz == pytest.approx(97.0, rel=1e-3)
    assert rec.meta["configured_rate_hz"] == 100.0
    assert rec.meta["start_unix_s"] == pytest.approx(1.6e9 + 0.25, abs=1e-4)
    assert rec.gaps() == []


def test_cwa_single_block_is_timed_from_its_anchor_sample(tmp_path: Path) -> None:
    xyz = _packed(np.tile([0, 0, 256], (120, 1)), np.zeros(120))
    (rec,) = cwa.read(_write(tmp_path, [_cwa_block(0, 1.6e9 + 0.5, xyz, count=120, anchor_sample=37)]))
    assert rec.meta["start_unix_s"] == pytest.approx(1.6e9 + 0.5 - 0.37, abs=1e-4)
    np.testing.assert_allclose(np.diff(rec.samples.t_s), 0.01)


def test_cwa_missing_block_stays_a_gap(tmp_path: Path) -> None:
    blocks = _still_ax3(10, rate_hz=100.0)
    (rec,) = cwa.read(_write(tmp_path, blocks[:4] + blocks[5:]))
    (gap,) = rec.gaps()
    assert gap.index == 4 * 120
    assert gap.missing_samples == pytest.approx(120, abs=1)
    assert len(rec.samples) == 9 * 120


def test_cwa_corrupt_checksum_block_is_skipped_counted_and_a_gap(tmp_path: Path) -> None:
    blocks = [bytearray(b) for b in _still_ax3(10, rate_hz=100.0)]
    blocks[6][100] ^= 0xFF
    (rec,) = cwa.read(_write(tmp_path, [bytes(b) for b in blocks]))
    assert rec.meta["blocks_skipped_checksum"] == 1
    assert rec.meta["blocks_decoded"] == 9
    (gap,) = rec.gaps()
    assert gap.missing_samples == pytest.approx(120, abs=1)


def test_cwa_clock_set_back_starts_a_new_recording(tmp_path: Path) -> None:
    first = _still_ax3(5, rate_hz=100.0, t0=1.6e9)
    second = [
        _cwa_block(
            5 + k, 1.6e9 - 100 + k * 1.2, _packed(np.tile([0, 0, 256], (120, 1)), np.zeros(120)), count=120
        )
        for k in range(3)
    ]
    recs = cwa.read(_write(tmp_path, first + second))
    assert [len(r.samples) for r in recs] == [600, 360]


def test_cwa_logging_resumed_flag_breaks_the_run(tmp_path: Path) -> None:
    xyz = _packed(np.tile([0, 0, 256], (120, 1)), np.zeros(120))
    blocks = [_cwa_block(k, 1.6e9 + k * 1.2, xyz, count=120) for k in range(3)]
    blocks += [
        _cwa_block(3 + k, 1.6e9 + 60 + k * 1.2, xyz, count=120, events=1 if k == 0 else 0) for k in range(3)
    ]
    (rec,) = cwa.read(_write(tmp_path, blocks))
    (gap,) = rec.gaps()
    assert gap.index == 360
    assert gap.duration_s == pytest.approx(60 - 3 * 1.2 + 0.01, abs=1e-3)


def test_cwa_partial_last_block_is_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, _still_ax3(4, rate_hz=100.0))
    path.write_bytes(path.read_bytes()[:-300])
    (rec,) = cwa.read(path)
    assert len(rec.samples) == 3 * 120
    assert rec.meta["truncated_tail_bytes"] == 212


def test_cwa_without_readable_blocks_is_an_input_error(tmp_path: Path) -> None:
    blocks = [bytearray(b) for b in _still_ax3(3, rate_hz=100.0)]
    for b in blocks:
        b[200] ^= 0x01
    path = _write(tmp_path, [bytes(b) for b in blocks])
    with pytest.raises(InputError, match=r"synthetic\.cwa.*no readable data blocks.*3 with bad checksums"):
        cwa.read(path)


# ============================================================================ bad input, any format
@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "garbage.cwa",
            r"garbage\.cwa: not an Axivity CWA file; expected a 1024-byte header block starting with 'MD'",
        ),
        ("garbage.npz", r"garbage\.npz: not a NumPy \.npz archive; expected a zip of \.npy arrays"),
    ],
)
def test_garbage_with_the_right_extension_names_file_and_expectation(
    tmp_path: Path, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(InputError, match=message):
        load_recordings(path)


def test_garbage_bin_and_csv_are_not_claimed_by_the_device_importers(tmp_path: Path) -> None:
    for name in ("garbage.bin", "garbage.csv"):
        path = tmp_path / name
        path.write_bytes(np.random.default_rng(2).bytes(5000))
        head = path.read_bytes()[:4096]
        assert not geneactiv.sniff(path, head)
        assert not gaitpy_csv.sniff(path, head)
    with pytest.raises(UnsupportedFormatError, match=r"garbage\.bin: unrecognised file format"):
        load_recordings(tmp_path / "garbage.bin")
    with pytest.raises(InputError, match=r"garbage\.bin: not a GENEActiv \.bin file; expected a text header"):
        geneactiv.read(tmp_path / "garbage.bin")
    with pytest.raises(InputError, match=r"garbage\.csv: not a GENEActiv CSV export; expected a first line"):
        gaitpy_csv.read(tmp_path / "garbage.csv")


def test_npz_without_the_expected_arrays_lists_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, t=np.arange(3.0), acc=np.zeros((3, 3)))
    with pytest.raises(InputError, match=r"other\.npz: missing arrays; expected keys 'time'.*found acc, t"):
        skdh_npz.read(path)


def test_npz_gyro_unit_rule(tmp_path: Path) -> None:
    t = np.arange(500) / 100.0
    accel = np.tile([0.0, 0.0, 1.0], (500, 1))
    turning = np.tile([0.0, 0.0, 3.0], (500, 1))  # 3 rad/s = 172 deg/s, or a nearly still 3 deg/s
    np.savez(tmp_path / "rad.npz", time=t, accel=accel, gyro=turning)
    np.savez(tmp_path / "deg.npz", time=t, accel=accel, gyro=turning * 60)
    (rad,) = skdh_npz.read(tmp_path / "rad.npz")
    (deg,) = skdh_npz.read(tmp_path / "deg.npz")
    assert rad.meta["gyr_unit_in_file"] == "rad/s"
    assert deg.meta["gyr_unit_in_file"] == "deg/s"
    assert rad.samples.gyr is not None and deg.samples.gyr is not None
    np.testing.assert_allclose(rad.samples.gyr[:, 2], np.rad2deg(3.0))
    np.testing.assert_allclose(deg.samples.gyr[:, 2], 180.0)
    np.testing.assert_allclose(rad.samples.acc[:, 2], G)


# ============================================================================ real sample files
def _file(shared_data: Path, *parts: str) -> Path:
    path = shared_data.joinpath(SAMPLES, *parts)
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def _quiet_magnitude_g(rec: Recording, max_sd_g: float = 0.1) -> float:
    """Median |acceleration| in g over the 1-s windows in which no axis varies by more than ``max_sd_g``.

    Quasi-static moments: whatever the orientation, the sensor then measures gravity alone, 1 g.
    """
    n = round(rec.rate_hz)
    acc = rec.samples.acc[: len(rec.samples) // n * n].reshape(-1, n, 3) / G
    quiet = acc.std(axis=1).max(axis=1) < max_sd_g
    assert np.any(quiet), "no quiet second"
    return float(np.median(np.linalg.norm(acc[quiet], axis=2)))


def _still_spans(rec: Recording) -> list[tuple[int, int]]:
    """Spans of at least 1 s in which no acceleration axis varies by more than 0.01 g (SD over 1 s)."""
    n = round(rec.rate_hz)
    windows = np.lib.stride_tricks.sliding_window_view(rec.samples.acc, n, axis=0)
    still = np.zeros(len(rec.samples), dtype=bool)
    still[n // 2 : n // 2 + windows.shape[0]] = windows.std(axis=-1).max(axis=1) / G < 0.01
    edges = np.flatnonzero(np.diff(np.r_[0, still.astype(int), 0]))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= n]


@pytest.mark.realdata
def test_real_ax3(shared_data: Path) -> None:
    (rec,) = load_recordings(_file(shared_data, "skdh", "ax3_sample.cwa"))
    assert len(rec.samples) == 490 * 120
    assert not rec.samples.has_gyr
    assert rec.meta["device"] == "Axivity AX3"
    assert rec.meta["blocks_decoded"] == rec.meta["blocks_total"] == 490
    assert rec.meta["configured_rate_hz"] == 200.0
    assert rec.rate_hz == pytest.approx(200.0, rel=0.05)  # measured from the device clock
    assert rec.duration_s == pytest.approx(len(rec.samples) / rec.rate_hz, rel=1e-3)
    assert rec.gaps() == []
    assert _quiet_magnitude_g(rec) == pytest.approx(1.0, abs=0.05)


@pytest.mark.realdata
def test_real_ax3_matches_skdh_reading_of_the_same_samples(shared_data: Path) -> None:
    """skdh's gait_input.npz is a stretch of ax3_sample.cwa read by skdh's own reader: same g, same times."""
    (rec,) = cwa.read(_file(shared_data, "skdh", "ax3_sample.cwa"))
    skdh = np.load(_file(shared_data, "skdh", "gait_input.npz"))
    unix = rec.samples.t_s + rec.meta["start_unix_s"]
    nearest = int(np.argmin(np.abs(unix - skdh["time"][0])))
    n = skdh["time"].shape[0]
    # the readers time samples slightly differently: look within ±2 samples for the identical counts
    matches = [
        i
        for i in range(nearest - 2, nearest + 3)
        if np.allclose(rec.samples.acc[i : i + n] / G, skdh["accel"], rtol=0, atol=1e-9)
    ]
    assert len(matches) == 1
    first = matches[0]
    assert np.max(np.abs(unix[first : first + n] - skdh["time"])) < 0.010


@pytest.mark.realdata
def test_real_ax6_gyroscope_scale_explains_gravity_rotation(shared_data: Path) -> None:
    """Between two still spans, the integrated gyroscope must turn gravity as the accelerometer saw it."""
    (rec,) = load_recordings(_file(shared_data, "skdh", "ax6_sample.cwa"))
    assert len(rec.samples) == 259 * 40
    assert rec.meta["device"] == "Axivity AX6"
    assert rec.rate_hz == pytest.approx(rec.meta["configured_rate_hz"], rel=0.05)
    gyr = rec.samples.gyr
    assert gyr is not None
    acc = rec.samples.acc
    spans = _still_spans(rec)
    assert spans, "no still span"
    for a, b in spans:
        assert np.median(np.linalg.norm(acc[a:b], axis=1)) / G == pytest.approx(1.0, abs=0.03)
    checked = 0
    for (a1, b1), (a2, b2) in itertools.pairwise(spans):
        g1, g2 = acc[a1:b1].mean(axis=0), acc[a2:b2].mean(axis=0)
        turned = np.degrees(np.arccos(np.dot(g1, g2) / np.linalg.norm(g1) / np.linalg.norm(g2)))
        if turned < 30:
            continue
        bias = gyr[a1:b1].mean(axis=0)
        steps = Rotation.from_rotvec(np.deg2rad(gyr[b1:a2] - bias) / rec.rate_hz)
        orientation = Rotation.identity()
        for step in steps:
            orientation = orientation * step
        predicted = orientation.inv().apply(g1)
        error = np.degrees(np.arccos(np.dot(predicted, g2) / np.linalg.norm(predicted) / np.linalg.norm(g2)))
        assert error < 0.1 * turned, f"gravity turned {turned:.0f}°, gyroscope predicts it {error:.0f}° off"
        checked += 1
    assert checked >= 1


@pytest.mark.realdata
def test_real_geneactiv_bin(shared_data: Path) -> None:
    (rec,) = load_recordings(_file(shared_data, "skdh", "gnactv_sample.bin"))
    assert len(rec.samples) == 3 * 300
    assert rec.rate_hz == 50.0
    assert rec.meta["pages_decoded"] == rec.meta["pages_total"] == 3
    assert rec.meta["placement"] == "back"
    assert rec.meta["start_time"] == "2019-05-21T16:16:43.500-04:00"
    # the device stamped page 2 half a second after page 1 ended: a gap, kept as the device says
    assert [(g.index, g.missing_samples) for g in rec.gaps()] == [(300, 25)]
    assert _quiet_magnitude_g(rec) == pytest.approx(1.0, abs=0.05)


@pytest.mark.realdata
def test_real_geneactiv_damaged_and_truncated_pages(shared_data: Path, tmp_path: Path) -> None:
    text = _file(shared_data, "skdh", "gnactv_sample.bin").read_bytes()
    lines = text.split(b"\n")
    hex_lines = [i for i, line in enumerate(lines) if len(line) > 1000]
    damaged = list(lines)
    damaged[hex_lines[1]] = b"ZZ" + damaged[hex_lines[1]][2:]
    (tmp_path / "damaged.bin").write_bytes(b"\n".join(damaged))
    (rec,) = geneactiv.read(tmp_path / "damaged.bin")
    assert rec.meta["pages_skipped_damaged"] == 1
    assert len(rec.samples) == 600
    (tmp_path / "cut.bin").write_bytes(text[: len(text) - 1000])
    (rec,) = geneactiv.read(tmp_path / "cut.bin")
    assert rec.meta["pages_truncated"] == 1
    assert len(rec.samples) == 600 + (3600 - 1000 + 1) // 12


@pytest.mark.realdata
def test_real_geneactiv_csv(shared_data: Path) -> None:
    rec = load_recording(_file(shared_data, "gaitpy", "demo_data.csv"))
    assert rec.meta["format"] == "geneactiv-csv"
    assert len(rec.samples) == 8400
    assert rec.rate_hz == 50.0
    assert rec.duration_s == pytest.approx(168.5, abs=0.1)
    assert rec.meta["placement"] == "back"
    assert rec.meta["header_lines"] == 100
    assert _quiet_magnitude_g(rec) == pytest.approx(1.0, abs=0.05)
    # GaitPy reads y as vertical: once walking (after 20 s), gravity lies along -y
    walking = rec.samples.acc[rec.samples.t_s > 20].mean(axis=0) / G
    assert walking[1] == pytest.approx(-1.0, abs=0.05)


@pytest.mark.realdata
def test_real_geneactiv_csv_bad_row_names_line_and_column(shared_data: Path, tmp_path: Path) -> None:
    lines = _file(shared_data, "gaitpy", "demo_data.csv").read_bytes().split(b"\n")
    lines[150] = lines[150].replace(b",", b",abc,", 1)
    (tmp_path / "bad.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(InputError, match=r"bad\.csv, line 151: unreadable value in column 'x_g'.*'abc'"):
        gaitpy_csv.read(tmp_path / "bad.csv")


@pytest.mark.realdata
def test_real_skdh_npz_accelerometer_only(shared_data: Path) -> None:
    (rec,) = load_recordings(_file(shared_data, "skdh", "gait_input.npz"))
    assert len(rec.samples) == 17000
    assert not rec.samples.has_gyr
    assert rec.meta["acc_unit_in_file"] == "g"
    assert rec.rate_hz == pytest.approx(197.0, abs=1.0)
    assert rec.duration_s == pytest.approx(86.25, abs=0.01)
    assert _quiet_magnitude_g(rec) == pytest.approx(1.0, abs=0.05)


@pytest.mark.realdata
def test_real_skdh_npz_gyroscope_is_rad_s_each_u_turn_half_a_circle(shared_data: Path) -> None:
    """Independent of the unit rule: read as rad/s, every turn on the walkway integrates to ≈ 180°."""
    (rec,) = load_recordings(_file(shared_data, "skdh", "gait_input2.npz"))
    assert len(rec.samples) == 5719
    assert rec.rate_hz == pytest.approx(128.0, rel=1e-3)
    assert rec.duration_s == pytest.approx(44.67, abs=0.01)
    assert rec.meta["gyr_unit_in_file"] == "rad/s"
    gyr = rec.samples.gyr
    assert gyr is not None
    vertical = int(np.argmax(np.abs(rec.samples.acc.mean(axis=0))))
    yaw = gyr[:, vertical] * -np.sign(rec.samples.acc[:, vertical].mean())  # deg/s about "up"
    second = round(rec.rate_hz)
    per_second = yaw[: len(yaw) // second * second].reshape(-1, second).mean(axis=1)
    turning = np.abs(per_second) > 30.0
    edges = np.flatnonzero(np.diff(np.r_[0, turning.astype(int), 0]))
    turns = [
        abs(per_second[max(a - 1, 0) : b + 1].sum()) for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]
    assert len(turns) >= 4
    for angle in turns:
        assert angle == pytest.approx(180.0, abs=30.0)


@pytest.mark.realdata
def test_each_importer_claims_only_its_own_real_file(shared_data: Path) -> None:
    files = {
        cwa: _file(shared_data, "skdh", "ax6_sample.cwa"),
        geneactiv: _file(shared_data, "skdh", "gnactv_sample.bin"),
        skdh_npz: _file(shared_data, "skdh", "gait_input2.npz"),
        gaitpy_csv: _file(shared_data, "gaitpy", "demo_data.csv"),
    }
    for importer in files:
        for owner, path in files.items():
            assert importer.sniff(path, path.read_bytes()[:4096]) == (importer is owner), (importer, path)


@pytest.mark.realdata
def test_real_cwa_copy_with_flipped_bytes_and_cut_mid_block(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "ax3.cwa"
    shutil.copy(_file(shared_data, "skdh", "ax3_sample.cwa"), path)
    data = bytearray(path.read_bytes())
    data[1024 + 100 * 512 + 300] ^= 0x5A
    path.write_bytes(bytes(data[: 1024 + 200 * 512 + 137]))
    (rec,) = cwa.read(path)
    assert rec.meta["blocks_skipped_checksum"] == 1
    assert rec.meta["truncated_tail_bytes"] == 137
    assert len(rec.samples) == 199 * 120
    (gap,) = rec.gaps()
    assert gap.index == 100 * 120
    assert gap.missing_samples == pytest.approx(120, abs=2)


def test_cwa_header_claiming_more_than_the_file_holds(tmp_path: Path) -> None:
    header = bytearray(_cwa_header())
    header[2:4] = (60000).to_bytes(2, "little")
    path = tmp_path / "short.cwa"
    path.write_bytes(bytes(header))
    with pytest.raises(InputError, match=r"short\.cwa: no readable data blocks"):
        cwa.read(path)
