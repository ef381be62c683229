"""Errors a user may see. Each names what was expected and what was found.

The command line prints ``str(error)`` on one line and exits non-zero; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

from pathlib import Path


class ImuError(Exception):
    """Base of every error meant for a user (not a bug)."""


class InputError(ImuError):
    """Bad input: a file, a column, a value or a packet that is not what it should be."""

    def __init__(
        self,
        problem: str,
        *,
        expected: str | None = None,
        found: str | None = None,
        where: str | Path | None = None,
    ) -> None:
        self.problem = problem
        self.expected = expected
        self.found = found
        self.where = str(where) if where is not None else None
        parts = [f"{self.where}: {problem}" if self.where else problem]
        if expected is not None:
            parts.append(f"expected {expected}")
        if found is not None:
            parts.append(f"found {found}")
        super().__init__("; ".join(parts))


class UnsupportedFormatError(InputError):
    """A file that no importer recognises."""


class SessionError(ImuError):
    """A session folder that cannot be created, opened or recovered as asked."""
