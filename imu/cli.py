"""The ``imu`` command line.

Every command exits non-zero with a one-line message (no traceback) on bad input; ``--verbose`` shows the
details. Commands arrive with the issue that delivers them; none is a placeholder.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from imu import __version__
from imu.errors import ImuError

log = logging.getLogger("imu")

Handler = Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------------------------------------- commands
def _cmd_info(args: argparse.Namespace) -> int:
    from imu.io.info import describe
    from imu.io.load import load_recordings

    separator = ""
    for path in args.inputs:
        for recording in load_recordings(path):
            print(separator + describe(recording))
            separator = "\n"  # a blank line between recordings
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from imu.analyze import run_analyze

    return run_analyze(args)


def _cmd_recover(args: argparse.Namespace) -> int:
    from imu.io.session import recover_session

    report = recover_session(args.session)
    print(report.summary())
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from imu.sim.cli import run_simulate

    return run_simulate(args)


def _cmd_scan(args: argparse.Namespace) -> int:
    from imu.link.cli import run_scan

    return run_scan(args)


def _cmd_record(args: argparse.Namespace) -> int:
    from imu.link.cli import run_record

    return run_record(args)


def _cmd_live(args: argparse.Namespace) -> int:
    from imu.dashboard.cli import run_live

    return run_live(args)


def _cmd_replay(args: argparse.Namespace) -> int:
    from imu.dashboard.cli import run_replay

    return run_replay(args)


def _add_live_arguments(p: argparse.ArgumentParser) -> None:
    from imu.dashboard.cli import add_live_arguments

    add_live_arguments(p)


def _add_replay_arguments(p: argparse.ArgumentParser) -> None:
    from imu.dashboard.cli import add_replay_arguments

    add_replay_arguments(p)


def _add_record_arguments(p: argparse.ArgumentParser) -> None:
    from imu.link.cli import add_record_arguments

    add_record_arguments(p)


def _add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    from imu.sim.cli import add_simulate_arguments

    add_simulate_arguments(p)


def _add_analyze_arguments(p: argparse.ArgumentParser) -> None:
    # defined here, not in imu.analyze, so that `imu --help` does not import the whole pipeline
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="session folders or recording files (FILE#N)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the tables and summaries go")
    p.add_argument("--from", dest="from_s", type=float, metavar="S", help="analyse from this time (s)")
    p.add_argument("--to", dest="to_s", type=float, metavar="S", help="analyse up to this time (s)")
    p.add_argument(
        "--mounting",
        metavar="up=AXIS,forward=AXIS",
        help="state the sensor mounting (e.g. up=+x,forward=-z) instead of finding it from the data",
    )


# ---------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imu",
        description="A running-form lab from an IMU clipped at the lower back.",
    )
    parser.add_argument("--version", action="version", version=f"imu {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show details and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", help="what a recording holds (duration, rates, channels, gaps)")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_SESSION")
    p.set_defaults(handler=_cmd_info)

    p = sub.add_parser("analyze", help="steps, strides, minutes and a summary per recording (CSV, Parquet)")
    _add_analyze_arguments(p)
    p.set_defaults(handler=_cmd_analyze)

    p = sub.add_parser("recover", help="rebuild a session's samples from its raw log (after a crash)")
    p.add_argument("session", metavar="SESSION_DIR")
    p.set_defaults(handler=_cmd_recover)

    p = sub.add_parser("scan", help="nearby supported sensors")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to listen (default 5)")
    p.set_defaults(handler=_cmd_scan)

    p = sub.add_parser("record", help="record a sensor (or a virtual one) into a session folder")
    _add_record_arguments(p)
    p.set_defaults(handler=_cmd_record)

    p = sub.add_parser(
        "live", help="the live dashboard for a sensor (or a virtual one), optionally recording"
    )
    _add_live_arguments(p)
    p.set_defaults(handler=_cmd_live)

    p = sub.add_parser("replay", help="the live dashboard over a recording replayed at N× real time")
    _add_replay_arguments(p)
    p.set_defaults(handler=_cmd_replay)

    p = sub.add_parser("simulate", help="write a simulated run (with ground truth) as a session")
    _add_simulate_arguments(p)
    p.set_defaults(handler=_cmd_simulate)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except ImuError as exc:
        if args.verbose:
            log.exception("failed")
        print(f"imu {args.command}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        if args.verbose:
            log.exception("failed")
        print(f"imu {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"imu {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
