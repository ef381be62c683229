"""``imu simulate``: write a simulated run (sacral sensor, with ground truth) as a session folder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from imu.errors import InputError

if TYPE_CHECKING:  # the model pulls in scipy; import it only when a simulation runs, not for `imu --help`
    from imu.sim.gait_model import FatigueSettings
    from imu.sim.runner import RunnerSettings
    from imu.sim.session import LinkSettings

_FATIGUE_OPTIONS = {
    "tilt_drift_deg": "tilt_drift_deg",
    "tilt_variability_pct": "tilt_variability_growth_pct",
    "asymmetry_pct": "asymmetry_pct",
    "cadence_drop_spm": "cadence_drop_spm",
    "contact_gain_ms": "contact_time_gain_s",
}


def _mounting_argument(text: str) -> str | tuple[float, float, float]:
    from imu.sim.sensor import parse_mounting

    try:
        return parse_mounting(text)
    except InputError as exc:  # argparse reports ArgumentTypeError as a one-line usage error
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION_DIR", help="new session folder to write")
    p.add_argument("--minutes", type=float, default=10.0, help="running time (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical output")
    p.add_argument("--rate-hz", type=int, default=208, help="sensor output rate (default 208)")
    p.add_argument("--speed-ms", type=float, default=3.3, help="running speed, sets cadence and contact time")
    p.add_argument("--cadence-spm", type=float, default=None, help="fresh cadence (default: from the speed)")
    p.add_argument(
        "--contact-time-s", type=float, default=None, help="fresh contact time (default: from speed)"
    )
    p.add_argument("--foot-strike", choices=("rearfoot", "forefoot"), default="rearfoot")
    p.add_argument("--standing-s", type=float, default=5.0, help="standing still before the run (default 5)")
    p.add_argument(
        "--mounting",
        type=_mounting_argument,
        default="random",
        help="random (default), upright (sensor axes = ap,v,ml) or DEG,DEG,DEG (extrinsic x,y,z rotations)",
    )
    p.add_argument(
        "--loss-pct", type=float, default=0.0, help="packets lost on the link, in bursts (default 0)"
    )
    p.add_argument("--clock-ppm", type=float, default=20.0, help="device clock error against the host")
    p.add_argument("--samples-per-packet", type=int, default=16)
    p.add_argument(
        "--no-samples-file",
        action="store_true",
        help="leave out samples.parquet (rebuilt from raw.log on opening)",
    )
    g = p.add_argument_group("fatigue (linear from the first to the last step)")
    g.add_argument(
        "--fatigue",
        action="store_true",
        help="typical fatigue: tilt +3°, tilt variability +100 %%, asymmetry 10 %%, cadence -6 spm, "
        "contact +15 ms; the options below override single parts",
    )
    g.add_argument("--tilt-drift-deg", type=float, default=None, help="change of the mean anterior tilt")
    g.add_argument(
        "--tilt-variability-pct", type=float, default=None, help="growth of stride-to-stride tilt SD"
    )
    g.add_argument(
        "--asymmetry-pct", type=float, default=None, help="impact asymmetry at the end (+: left harder)"
    )
    g.add_argument("--cadence-drop-spm", type=float, default=None, help="fall of the cadence")
    g.add_argument("--contact-gain-ms", type=float, default=None, help="lengthening of the contact time")


def fatigue_from_args(args: argparse.Namespace) -> FatigueSettings:
    from imu.sim.gait_model import FatigueSettings

    base = FatigueSettings.typical() if args.fatigue else FatigueSettings()
    values = {field: getattr(base, field) for field in _FATIGUE_OPTIONS.values()}
    for option, field in _FATIGUE_OPTIONS.items():
        given = getattr(args, option)
        if given is not None:
            values[field] = given / 1000.0 if option == "contact_gain_ms" else given
    return FatigueSettings(**values)


def settings_from_args(args: argparse.Namespace) -> tuple[RunnerSettings, LinkSettings]:
    from imu.sim.gait_model import GaitSettings
    from imu.sim.kinematics import ForceSettings
    from imu.sim.runner import RunnerSettings
    from imu.sim.sensor import SensorSettings
    from imu.sim.session import LinkSettings

    runner = RunnerSettings(
        minutes=args.minutes,
        seed=args.seed,
        standing_s=args.standing_s,
        mounting=args.mounting,
        gait=GaitSettings(
            speed_ms=args.speed_ms, cadence_spm=args.cadence_spm, contact_time_s=args.contact_time_s
        ),
        force=ForceSettings(foot_strike=args.foot_strike),
        fatigue=fatigue_from_args(args),
        sensor=SensorSettings(rate_hz=float(args.rate_hz)),
    )
    link = LinkSettings(
        samples_per_packet=args.samples_per_packet, loss_pct=args.loss_pct, clock_ppm=args.clock_ppm
    )
    return runner, link


def run_simulate(args: argparse.Namespace) -> int:
    from imu.sim.runner import simulate_run
    from imu.sim.session import write_simulated_session

    runner, link = settings_from_args(args)
    run = simulate_run(runner)
    recording, report = write_simulated_session(
        args.session, run, link, keep_samples_file=not args.no_samples_file
    )
    f = runner.fatigue
    fatigue = (
        "no fatigue"
        if f.is_fresh
        else (
            f"fatigue tilt {f.tilt_drift_deg:+g}°, tilt SD {f.tilt_variability_growth_pct:+g} %, "
            f"asymmetry {f.asymmetry_pct:+g} %, cadence {-f.cadence_drop_spm:+g} spm, "
            f"contact {f.contact_time_gain_s * 1000:+g} ms"
        )
    )
    samples = f"{len(recording.samples)} of {len(run.samples)} samples at {runner.sensor.rate_hz:g} Hz"
    print(
        f"{args.session}: simulated {runner.minutes:g} min at {runner.gait.speed_ms:g} m/s, "
        f"seed {runner.seed}: {len(run.steps)} steps, {samples} "
        f"({report['lost_packets']} of {report['packets']} packets lost), "
        f"{fatigue}; truth: steps, strides"
    )
    return 0
