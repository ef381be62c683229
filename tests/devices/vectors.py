"""Locate and load the shared protocol test vectors (``../shared/vectors`` or ``$IMU_SHARED_VECTORS``).

Tests parametrise over the entries of each JSON file, so a vector added to a file is checked without
touching the tests. When the folder is absent the parametrised tests are collected as skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

VECTORS_DIR = Path(
    os.environ.get("IMU_SHARED_VECTORS", Path(__file__).resolve().parents[2].parent / "shared" / "vectors")
)


def load(name: str) -> dict[str, Any] | None:
    path = VECTORS_DIR / name
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def params(name: str, key: str, *, where: str | None = None) -> list[Any]:
    """One pytest param per entry of ``data[key]`` (filtered to entries having ``where``), named by entry."""
    data = load(name)
    if data is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{VECTORS_DIR / name} not found"))]
    entries = [e for e in data[key] if where is None or where in e]
    return [pytest.param(e, id=str(e.get("name", i))) for i, e in enumerate(entries)]


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text)
