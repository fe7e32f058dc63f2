#!/usr/bin/env python3
"""Runs octet's benchmarks and their peers, and writes <build_dir>/bench.jsonl.

    bench/run_benchmarks.py <build_dir> [--python VENV_PYTHON] [--quick] [--peers GLOB]

1. Every peer script bench/peers/*.py (not common.py) runs with the peer venv's python and prints
   {"key", "value", "unit"} lines; they are kept by key (and written to <build_dir>/bench_peers.jsonl).
   Without a usable python the peers are skipped, and rows that needed one get peer "none".
2. Every executable in <build_dir>/bench/ runs. Lines `OCTET_BENCH {json}` are results; a row
   names its peer either by value ("peer_value", measured inside the binary) or by "peer_key", a
   key printed by a peer script in step 1. Binaries that print none (plain Google Benchmark) just
   have their output shown.
3. <build_dir>/bench.jsonl gets one object per result with exactly the keys
   bench, value, unit, peer, peer_value, ratio (= value / peer_value), better; a table is printed.

Exits non-zero if a benchmark binary failed or printed a malformed OCTET_BENCH line; a failing
peer script is reported but does not fail the run, since the peers are optional.
"""

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO / "bench" / "peers"
MARK = "OCTET_BENCH"
ROW_KEYS = ("bench", "value", "unit", "peer", "peer_value", "ratio", "better")


def say(message=""):
    print(message, flush=True)


def run_streaming(command, timeout, show):
    """Runs `command`, passing stderr through; returns (exit code, stdout lines).

    Each stdout line is handed to `show` as it arrives, so a long benchmark shows its progress.
    """
    lines = []
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
    except OSError as error:
        say(f"  cannot run {command[0]}: {error}")
        return 127, lines
    try:
        for line in process.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            show(line)
        return process.wait(timeout=timeout), lines
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        say(f"  timed out after {timeout} s")
        return 124, lines


def peer_scripts(pattern="*.py"):
    return sorted(p for p in PEERS.glob(pattern) if p.name != "common.py" and not p.name.startswith("_"))


def python_works(python):
    if not python:
        return False
    try:
        probe = subprocess.run([python, "-c", "import torch"], capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def run_peers(python, quick, timeout, pattern="*.py"):
    """Returns {key: {"value", "unit", "script"}} from every peer script that ran."""
    measurements = {}
    if not python_works(python):
        say(f"peers: skipped, no peer python that can import torch ({python or 'none given'}); "
            "run scripts/peer-venv to create it. Rows that need a peer get peer 'none'.")
        return measurements
    for script in peer_scripts(pattern):
        say(f"peer {script.name}")
        command = [python, str(script)] + (["--quick"] if quick else [])
        found = []

        def show(line):
            try:
                record = json.loads(line)
                found.append(record)
                say(f"  {record['key']} = {record['value']:.6g} {record['unit']}")
            except (ValueError, KeyError, TypeError):
                say(f"  {line}")

        code, _ = run_streaming(command, timeout, show)
        if code != 0:
            say(f"  {script.name} failed (exit {code}); its measurements are not used")
            continue
        for record in found:
            measurements[record["key"]] = {"value": float(record["value"]), "unit": record["unit"],
                                           "script": script.name}
    return measurements


def is_benchmark_binary(path):
    if not path.is_file() or not os.access(path, os.X_OK):
        return False
    with open(path, "rb") as f:
        head = f.read(4)
    return head == b"\x7fELF" or head.startswith(b"#!")


def speaks_octet_protocol(path):
    # An octet bench binary contains the literal it prints; only those accept --quick. Plain
    # Google Benchmark binaries reject unknown flags and get --benchmark_min_time instead.
    return MARK.encode() in path.read_bytes()


def parse_result(line, binary):
    """Returns the row dict of one OCTET_BENCH line; raises ValueError when it breaks the protocol."""
    record = json.loads(line[len(MARK):])
    for key in ("bench", "value", "unit", "better"):
        if key not in record:
            raise ValueError(f"missing '{key}'")
    if record["better"] not in ("higher", "lower"):
        raise ValueError(f"'better' must be 'higher' or 'lower', not {record['better']!r}")
    if ("peer_value" in record) == ("peer_key" in record):
        raise ValueError("give exactly one of 'peer_value' (measured in the binary) and 'peer_key'")
    if "peer_value" in record and "peer" not in record:
        raise ValueError("'peer_value' needs 'peer', the name of what was measured")
    record["value"] = float(record["value"])
    record["binary"] = binary
    return record


def resolve(record, peers):
    """The bench.jsonl row: peer_key replaced by the peer's measurement, ratio computed."""
    peer, peer_value = record.get("peer"), record.get("peer_value")
    key = record.get("peer_key")
    same_unit = True
    if key is not None:
        measured = peers.get(key)
        if measured is None:
            if peers:
                say(f"warning: {record['bench']} names peer_key {key}, which no peer script printed")
            peer, peer_value = "none", None
        else:
            peer, peer_value = peer or key, measured["value"]
            same_unit = measured["unit"] == record["unit"]
            if not same_unit:
                say(f"warning: {record['bench']} is in {record['unit']} but peer {key} in "
                    f"{measured['unit']}; no ratio")
    if peer_value is not None:
        peer_value = float(peer_value)
    usable = same_unit and peer_value is not None and peer_value != 0.0 and math.isfinite(peer_value)
    row = {"bench": record["bench"], "value": record["value"], "unit": record["unit"],
           "peer": peer, "peer_value": peer_value,
           "ratio": record["value"] / peer_value if usable else None, "better": record["better"]}
    assert tuple(row) == ROW_KEYS
    return row


def run_binaries(build_dir, quick, min_time, timeout):
    """Runs every benchmark executable; returns (OCTET_BENCH records, names of failed binaries)."""
    records, failed = [], []
    folder = build_dir / "bench"
    binaries = sorted(p for p in folder.iterdir() if is_benchmark_binary(p)) if folder.is_dir() else []
    if not binaries:
        say(f"no benchmark executables in {folder}")
    for binary in binaries:
        if speaks_octet_protocol(binary):
            command = [str(binary)] + (["--quick"] if quick else [])
        else:
            command = [str(binary), f"--benchmark_min_time={min_time}"]
        say(f"\n== {binary.name} {' '.join(command[1:])}")
        bad_lines = []

        def show(line):
            stripped = line.strip()
            if not stripped.startswith(MARK):
                say(line)
                return
            try:
                record = parse_result(stripped, binary.name)
                records.append(record)
                say(f"  {record['bench']} = {record['value']:.6g} {record['unit']}")
            except (ValueError, TypeError) as error:
                bad_lines.append(line)
                say(f"  malformed {MARK} line ({error}): {line}")

        code, _ = run_streaming(command, timeout, show)
        if code != 0 or bad_lines:
            failed.append(binary.name)
            say(f"  {binary.name} FAILED (exit {code}, {len(bad_lines)} malformed result lines)")
    return records, failed


def number(x):
    return "-" if x is None else f"{x:.4g}"


def print_table(rows, peers):
    say("\n" + "=" * 100)
    header = f"{'bench':<44} {'value':>10} {'unit':<10} {'peer':<26} {'peer value':>10} {'ratio':>7}"
    say(header)
    say("-" * len(header))
    for row in rows:
        verdict = ""
        if row["ratio"] is not None:
            wins = row["ratio"] >= 1.0 if row["better"] == "higher" else row["ratio"] <= 1.0
            verdict = "  octet ahead" if wins else "  peer ahead"
        say(f"{row['bench']:<44} {number(row['value']):>10} {row['unit']:<10} {str(row['peer']):<26} "
            f"{number(row['peer_value']):>10} {number(row['ratio']):>7}{verdict}")
    if peers:
        say("\npeer measurements:")
        for key, measured in sorted(peers.items()):
            say(f"  {key:<42} {number(measured['value']):>10} {measured['unit']}")


def main():
    parser = argparse.ArgumentParser(description="Run octet's benchmarks against their peers.")
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--python",
                        help="the peer venv's python (scripts/peer-venv prints it)")
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--min-time", default=None,
                        help="--benchmark_min_time for Google Benchmark binaries, in seconds "
                             "(default 0.5, or 0.05 with --quick)")
    parser.add_argument("--peers", default="*.py",
                        help="which peer scripts of bench/peers to run, a glob (default all; the GPU "
                             "check runs only torch_cuda_*.py)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per binary or script")
    args = parser.parse_args()
    min_time = args.min_time or ("0.05" if args.quick else "0.5")
    build_dir = args.build_dir.resolve()
    if not build_dir.is_dir():
        parser.error(f"no build directory {build_dir}; build first (make bench does)")

    peers = run_peers(args.python, args.quick, args.timeout, args.peers)
    with open(build_dir / "bench_peers.jsonl", "w") as out:
        for key, measured in sorted(peers.items()):
            out.write(json.dumps({"key": key, **measured}) + "\n")

    records, failed = run_binaries(build_dir, args.quick, min_time, args.timeout)
    rows = [resolve(record, peers) for record in records]
    names = [row["bench"] for row in rows]
    for name in sorted({n for n in names if names.count(n) > 1}):
        say(f"warning: bench name '{name}' reported more than once")
    with open(build_dir / "bench.jsonl", "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")

    print_table(rows, peers)
    say(f"\n{len(rows)} results written to {build_dir / 'bench.jsonl'}")
    if failed:
        say(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
