"""`uv run python -m bench [--quick]`: measure the program against its ceiling, print the table,
write the figures as JSON (a complete full run: bench/results/latest.json)."""

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

import uvloop

from bench.database import BenchBusy
from bench.figures import FULL, QUICK, BenchResult
from bench.report import table, write_json
from bench.runner import PARTS, run_bench


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short phases, 2,000 newcomers for memory (under 2 min on a quiet machine)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(PARTS),
        help=f"comma-separated subset of {','.join(PARTS)} (default: all; admin is the "
        "operators' part: /stats, /find, /export)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory run")
    parser.add_argument(
        "--memory-users",
        type=int,
        help="distinct newcomers of the memory run (default: 1,000,000; 2,000 with --quick)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy samples the program during each closed loop (disturbs the figures a little)",
    )
    return parser.parse_args(argv)


async def stoppable(run: Coroutine[Any, Any, BenchResult]) -> BenchResult:
    """`run`, cancelled by SIGTERM or SIGINT (even in the background, where SIGINT is ignored),
    so that its servers are stopped on the way out."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    return await run


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    names = tuple(name for name in arguments.scenarios.split(",") if name)
    unknown = set(names) - set(PARTS)
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)  # progress, on stderr
    plan = QUICK if arguments.quick else FULL
    if arguments.memory_users:
        plan = replace(plan, memory_users=arguments.memory_users)
    try:
        result = uvloop.run(  # like the servers: the generator stays lean
            stoppable(
                run_bench(plan, names, memory=not arguments.no_memory, profile=arguments.profile)
            )
        )
    except asyncio.CancelledError:
        print("stopped: every server was stopped, nothing written", file=sys.stderr)
        return 130
    except BenchBusy as busy:
        print(f"{busy}: wait for it to end", file=sys.stderr)
        return 75
    print(table(result))
    complete = set(names) == set(PARTS) and not arguments.no_memory and not arguments.profile
    print(f"\nwritten: {write_json(result, complete=complete)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
