"""`make bench`: run scenarios against the real stack and report each against its targets.

    python -m bench                       # scenarios 1-4 and versus-seed
    python -m bench pipeline --seconds 5  # one scenario, shorter
    python -m bench soak --minutes 10     # the soak runs only when asked
    python -m bench conversation          # the conversation service alone (issue 4's targets)
    python -m bench handoff --users 100   # human handoff: to a person at the desk and back
    python -m bench versus-seed           # the seed's design and ours, side by side

Each scenario prints a table, writes bench/results/<scenario>.json and a PNG plot. The exit
status is 1 when any target was missed, so a script can tell.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

from bench import bursts, concurrency, conversation, handoff, ingress, pipeline, soak, versus
from bench.report import Options, Report, environment

SCENARIOS: dict[str, Callable[[Options], Report]] = {
    "ingress": ingress.run,
    "pipeline": pipeline.run,
    "concurrency": concurrency.run,
    "bursts": bursts.run,
    "soak": soak.run,
    "conversation": conversation.run,
    "handoff": handoff.run,
    "versus-seed": versus.run,
}
DEFAULT = ("ingress", "pipeline", "concurrency", "bursts", "versus-seed")


def _stop(signum: int, _: object) -> None:
    """SIGTERM (a `timeout`, a CI cancel) unwinds like Ctrl-C: the stacks' services run in
    sessions of their own, and only the context managers on the way out stop them."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--seconds", type=float, help="measured seconds (per step for ingress)")
    parser.add_argument("--rate", type=float, help="messages per second offered")
    parser.add_argument("--users", type=int, help="distinct users")
    parser.add_argument("--openai-latency", type=float, help="sandbox responder seconds")
    parser.add_argument("--twilio-latency", type=float, help="sandbox Twilio seconds")
    parser.add_argument("--minutes", type=float, help="soak: minutes of load")
    parser.add_argument(
        "--profile", action="store_true", help="record the Python services with py-spy"
    )
    args = parser.parse_args()
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    options = Options(
        seconds=args.seconds,
        rate=args.rate,
        users=args.users,
        openai_latency=args.openai_latency,
        twilio_latency=args.twilio_latency,
        minutes=args.minutes,
        profile=args.profile,
    )
    missed = []
    for name in args.scenarios or DEFAULT:
        print(f"\n-- running {name}...", flush=True)
        context = environment()
        report = SCENARIOS[name](options)
        report.publish(context)
        if not report.met:
            missed.append(name)
    print(f"\ntargets missed in: {', '.join(missed)}" if missed else "\nall targets met")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
