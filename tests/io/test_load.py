"""Dispatch: sessions, importers, `#N` / `#member` selection, and clear errors for what is not a recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imu.errors import InputError, UnsupportedFormatError
from imu.io.importers.generic_csv import write_generic_csv
from imu.io.load import IMPORTERS, load_recording, load_recordings, supported_formats
from imu.samples import Recording, SampleBlock


def _csv(tmp_path: Path, name: str = "ok.csv") -> Path:
    t = np.arange(100) / 100.0
    acc = np.tile([0.0, 0.0, 9.81], (100, 1))
    return write_generic_csv(Recording.from_samples(SampleBlock(t, acc), "mem"), tmp_path / name)


def test_every_importer_defines_the_protocol() -> None:
    for module in IMPORTERS:
        assert isinstance(module.FORMAT, str) and module.FORMAT
        assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION
        assert callable(module.sniff) and callable(module.read)
    formats = [m.FORMAT for m in IMPORTERS]
    assert len(formats) == len(set(formats))
    assert supported_formats().count("\n") == len(IMPORTERS) - 1


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="no such file") as info:
        load_recordings(path)
    assert str(path) in str(info.value)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty") as info:
        load_recordings(path)
    assert str(path) in str(info.value) and info.value.found == "0 bytes"


def test_folder_that_is_not_a_session(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a session") as info:
        load_recordings(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_unknown_text_names_file_and_supported_formats(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Dear diary, today I ran 10 km.\n")
    with pytest.raises(UnsupportedFormatError) as info:
        load_recordings(path)
    message = str(info.value)
    assert str(path) in message and "Dear diary" in message
    for module in IMPORTERS:
        assert module.FORMAT in message
    assert "\n" not in message


def test_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes(_csv(tmp_path).read_text().encode("utf-16"))
    with pytest.raises(UnsupportedFormatError) as info:
        load_recordings(path)
    assert str(path) in str(info.value) and "UTF-16" in str(info.value)


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(UnsupportedFormatError) as info:
        load_recordings(path)
    assert str(path) in str(info.value) and "binary data" in str(info.value)


def test_index_selection(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    assert len(load_recordings(f"{path}#1")) == 1
    with pytest.raises(InputError, match="no recording #2") as info:
        load_recordings(f"{path}#2")
    assert info.value.expected == "#1 to #1"


def test_member_suffix_on_a_format_without_members(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    with pytest.raises(InputError, match="have no members") as info:
        load_recordings(f"{path}#inner.txt")
    assert str(path) in str(info.value)


def test_a_real_file_name_with_hash_wins(tmp_path: Path) -> None:
    path = _csv(tmp_path, "run#2")
    assert load_recording(path).source == str(path)


def test_load_recording_asks_to_select_among_many(shared_data: Path) -> None:
    path = shared_data / "alcantara2022_sacral_running_grf/data/Accelerometer_one_sub.csv"
    with pytest.raises(InputError) as info:
        load_recording(path)
    assert "holds 31 recordings" in str(info.value) and f"{path}#N (N = 1..31)" in str(info.value)
    assert load_recording(f"{path}#31").source == f"{path}#31"


def test_session_folder_and_its_samples_parquet(tmp_path: Path) -> None:
    from imu.devices.reference import encode_packets
    from imu.io.session import SessionWriter

    rng = np.random.default_rng(5)
    acc = rng.normal(0, 3, (400, 3)) + np.array([0, 9.8, 0])
    packets = encode_packets(acc, rng.normal(0, 90, (400, 3)), rate_hz=100, samples_per_packet=8)
    folder = tmp_path / "session"
    with SessionWriter.create(folder, device={"protocol": "reference"}, settings={"rate_hz": 100}) as writer:
        for k, packet in enumerate(packets):
            writer.append(packet, 1_700_000_000_000_000_000 + (k + 1) * 80_000_000)
        written = writer.close()
    (session,) = load_recordings(folder)
    np.testing.assert_array_equal(session.samples.acc, written.samples.acc)
    parquet = next(p for p in folder.iterdir() if p.suffix == ".parquet" and "sample" in p.name)
    alone = load_recording(parquet)
    assert alone.meta["format"] == "parquet"
    np.testing.assert_array_equal(alone.samples.gyr, written.samples.gyr)
