"""The shape every pipeline stage shares, so live, replay and batch run the same code.

A stage is built from a frozen settings object (defaults in physical units), keeps explicit state, and is
fed blocks in time order with :meth:`Stage.update`; :meth:`Stage.flush` ends the stream and returns what
the look-ahead was still holding back. Everything a stage returns is final: no event is retracted.

``look_ahead_s`` documents the fixed delay between a sample arriving and the stage committing what that
sample decides. Batch analysis is :func:`run_batch`: the same ``update`` over the whole recording followed
by ``flush``, so streaming and batch give identical results for any chunking (the property tests check
this for random chunkings, sizes 0 and 1 included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

InT = TypeVar("InT")
OutT = TypeVar("OutT")
InT_contra = TypeVar("InT_contra", contravariant=True)
OutT_co = TypeVar("OutT_co", covariant=True)


class Stage(Protocol[InT_contra, OutT_co]):
    """A streaming stage: ``update`` per block, ``flush`` at the end; ``look_ahead_s`` is its fixed delay.

    The input is a :class:`imu.samples.SampleBlock` (sensor frame) for the body-frame stage and a
    :class:`imu.gait.body_block.BodyBlock` for the stages after it.
    """

    @property
    def look_ahead_s(self) -> float: ...

    def update(self, block: InT_contra) -> OutT_co: ...

    def flush(self) -> OutT_co: ...


def run_stream(stage: Stage[InT, OutT], blocks: Iterable[InT], join: Callable[[list[OutT]], OutT]) -> OutT:
    """Feed blocks one by one, flush, and join the outputs (what a live session sees, collected)."""
    outputs = [stage.update(block) for block in blocks]
    outputs.append(stage.flush())
    return join(outputs)


def run_batch(stage: Stage[InT, OutT], block: InT, join: Callable[[list[OutT]], OutT]) -> OutT:
    """The whole recording as one block: batch analysis is the streaming code."""
    return run_stream(stage, [block], join)
