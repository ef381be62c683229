"""Which decoder reads which protocol: the one place a session's ``device.protocol`` is resolved.

Each entry builds a fresh (stateful) decoder from the session's settings; decoders are imported lazily so
that reading one protocol never imports the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from imu.devices.base import Decoder
from imu.errors import InputError

DecoderFactory = Callable[[Mapping[str, Any]], Decoder]


def _reference(settings: Mapping[str, Any]) -> Decoder:
    from imu.devices.reference import ReferenceDecoder

    return ReferenceDecoder()  # packets describe themselves: no settings needed


def _polar_pmd(settings: Mapping[str, Any]) -> Decoder:
    """ACC alone, or ACC + GYRO merged onto the ACC times when the settings name a ``gyr_rate_hz``."""
    from imu.devices.polar_pmd import PolarPmdDecoder

    rate_hz = float(settings.get("rate_hz", 52.0))
    gyr_rate_hz = settings.get("gyr_rate_hz")
    decoder = PolarPmdDecoder(
        acc_rate_hz=float(settings.get("acc_rate_hz", rate_hz)),
        gyr_rate_hz=float(gyr_rate_hz or rate_hz),
        acc_factor=float(settings.get("acc_factor", 1.0)),
        gyr_factor=float(settings.get("gyr_factor", 1.0)),
    )
    if gyr_rate_hz is None:
        return decoder
    from imu.link.merge import AccGyrMerger

    return AccGyrMerger(decoder)


def _movesense_gsp(settings: Mapping[str, Any]) -> Decoder:
    from imu.devices.movesense import MovesenseDecoder

    ref = settings.get("ref")
    per_message = settings.get("samples_per_message")
    return MovesenseDecoder(
        rate_hz=float(settings.get("rate_hz", 104.0)),
        ref=None if ref is None else int(ref),
        samples_per_message=None if per_message is None else int(per_message),
    )


def _witmotion_wt901ble(settings: Mapping[str, Any]) -> Decoder:
    from imu.devices.witmotion import WitMotionDecoder

    rate_hz = settings.get("rate_hz")
    return WitMotionDecoder(rate_hz=None if rate_hz is None else float(rate_hz))


def _openearable(settings: Mapping[str, Any]) -> Decoder:
    from imu.devices.openearable import OpenEarableDecoder

    return OpenEarableDecoder(settings)


DECODERS: dict[str, DecoderFactory] = {
    "reference": _reference,
    "polar_pmd": _polar_pmd,
    "movesense_gsp": _movesense_gsp,
    "witmotion_wt901ble": _witmotion_wt901ble,
    "openearable": _openearable,
}


def known_protocols() -> tuple[str, ...]:
    return tuple(sorted(DECODERS))


def decoder_for(protocol: str, settings: Mapping[str, Any]) -> Decoder:
    """A new decoder for ``protocol`` configured by ``settings``; :class:`InputError` for an unknown one."""
    factory = DECODERS.get(protocol)
    if factory is None:
        raise InputError(
            "unknown device protocol", expected=f"one of {', '.join(known_protocols())}", found=repr(protocol)
        )
    return factory(settings)
