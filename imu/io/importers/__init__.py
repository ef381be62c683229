"""Importers: one module per file format, each turning a file into :class:`~imu.samples.Recording` objects.

Every importer module defines

- ``FORMAT: str`` — a short name (shown by ``imu info`` and in error messages),
- ``DESCRIPTION: str`` — one line saying what the format is,
- ``sniff(path, head) -> bool`` — cheap recognition from the file name and its first 4 KiB,
- ``read(path) -> list[Recording]`` — every recording the file holds (a multi-trial file gives several),

and may define ``read_member(path, member) -> list[Recording]`` for containers addressed as
``ARCHIVE#member``. Importers convert to the project's units at the boundary (acceleration m/s² including
gravity, angular rate deg/s, sensor frame) and put ground truth into ``Recording.truth``.
:mod:`imu.io.load` keeps the registry and dispatches.
"""
