"""The end-to-end submission figure of this checkout against another one, in alternating pairs.

    python bench/compare_end_to_end.py OTHER_CHECKOUT [--pairs 5] [--seconds 10]

OTHER_CHECKOUT is a second work tree of this repository (`git worktree add /tmp/old COMMIT`), for
example the commit before a change to the server. Each run is bench/run.py's end-to-end section of
that checkout, in a process of its own with that checkout first on the path: a new instance with
production Argon2, `aidnet serve` with its defaults, 16 clients submitting through the real forms
for --seconds, group commit on. Runs alternate (this, other, this, other, ...) and the ratio is taken
pair by pair, so a machine whose speed drifts during the call moves both sides of a pair alike.
Each side uses its own load client (tests/helpers/loadtools.py of that checkout).

Prints each pair and the medians; exit 1 if a run fails or any submission got a server error.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = """
import json, os, shutil, sys, tempfile
from pathlib import Path
sys.path.insert(0, "bench")
import run
os.umask(0o077)
work = Path(tempfile.mkdtemp(prefix="aidnet-e2e-", dir="/var/tmp"))  # as bench/run.py: a real disk, removed after
try:
    settings = run.new_instance(work, "e2e")
    result = run.end_to_end(settings, {seconds}, work / "logs", {{"AIDNET_GROUP_COMMIT": "on"}})
finally:
    shutil.rmtree(work, ignore_errors=True)
print("RESULT " + json.dumps(result))
"""


def one_run(checkout: Path, seconds: float) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(checkout), AIDNET_GROUP_COMMIT="on")
    done = subprocess.run([sys.executable, "-c", RUN.format(seconds=seconds)], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=seconds + 240, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"a run in {checkout} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    result: dict[str, float] = json.loads(lines[-1][len("RESULT "):])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="a second checkout of this repository (the baseline)")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    other = args.other.resolve()
    if not (other / "bench" / "run.py").is_file():
        print(f"{other} is not a checkout of aidnet (no bench/run.py)", file=sys.stderr)
        return 1
    print(f"end-to-end, 16 clients, {args.seconds:g} s a run, {args.pairs} pairs: A = {ROOT}, B = {other}")
    print(f"{'pair':>4}  {'A sub/s':>8}  {'B sub/s':>8}  {'A/B':>6}  {'A p99 ms':>8}  {'B p99 ms':>8}  "
          f"{'A cpu ms':>8}  {'B cpu ms':>8}")
    rows = []
    errors = 0
    for pair in range(1, args.pairs + 1):
        a = one_run(ROOT, args.seconds)
        b = one_run(other, args.seconds)
        errors += int(a.get("errors", 0)) + int(b.get("errors", 0))
        rows.append((a["rate"], b["rate"], a["rate"] / b["rate"], a["p99"], b["p99"], a["server_ms"], b["server_ms"]))
        print(f"{pair:>4}  {a['rate']:>8.1f}  {b['rate']:>8.1f}  {a['rate'] / b['rate']:>6.3f}  "
              f"{a['p99']:>8.0f}  {b['p99']:>8.0f}  {a['server_ms']:>8.2f}  {b['server_ms']:>8.2f}", flush=True)
    medians = [statistics.median(column) for column in zip(*rows, strict=True)]
    print(f" med  {medians[0]:>8.1f}  {medians[1]:>8.1f}  {medians[2]:>6.3f}  {medians[3]:>8.0f}  {medians[4]:>8.0f}  "
          f"{medians[5]:>8.2f}  {medians[6]:>8.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}; server errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
