"""Helpers shared by the peer benchmark scripts: the output line format and the timing rule.

A peer script prints one JSON object per line on stdout, {"key": ..., "value": ..., "unit": ...};
bench/run_benchmarks.py matches "key" against the "peer_key" of octet's OCTET_BENCH lines.
Everything else a peer script says goes to stderr.
"""

import argparse
import json
import os
import statistics
import sys
import time
from typing import Callable, List


def emit(key: str, value: float, unit: str) -> None:
    print(json.dumps({"key": key, "value": value, "unit": unit}), flush=True)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def warn_if_busy() -> None:
    """Timings are wall-clock: other work on the machine slows them, two-thread runs most."""
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load > cores:
        note(f"warning: load average {load:.1f} on {cores} cores; these timings will be low")


def median_seconds(step: Callable[[], None], warmup: int, steps: int) -> float:
    """Runs `step` warmup times untimed, then returns the median wall time of `steps` calls.

    The median, not the mean, so that one step disturbed by another process does not move it.
    """
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def thread_counts(text: str) -> List[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"expected a list like '1,2', got '{text}'")
    return counts


def add_timing_arguments(parser: argparse.ArgumentParser, default_steps: int) -> None:
    parser.add_argument("--threads", type=thread_counts, default=[1, 2],
                        help="comma-separated intra-op thread counts to measure (default 1,2)")
    parser.add_argument("--steps", type=int, default=default_steps,
                        help=f"timed steps per measurement, median reported (default {default_steps})")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 warm-up and 3 timed steps, numbers only indicative")


def timing_plan(args: argparse.Namespace) -> tuple:
    """(warmup, steps) after --quick is applied."""
    if args.quick:
        return 1, 3
    return args.warmup, max(args.steps, 1)
