"""granian against `aidnet serve`: the end-to-end figure in alternating pairs, then the slow-client attack.

    pip install granian    # by hand: a bench comparison, aidnet does not depend on it
    .venv-test/bin/python bench/granian_check.py [--pairs 3] [--seconds 10]

Issue 13 asked to choose the server by measurement: the one that holds the slow-client test *and* keeps or
improves the end-to-end submission figure. This measures granian (bench/granian_serve.py: the same app,
2 workers x 8 threads, headers due in 10 s) with bench/run.py's own (b) and (g): 16 clients submitting
through the real forms, each pair one run of `aidnet serve` and one of granian a few seconds apart; then
64 slow connections on granian's port for 30 s while `/healthz` and the login page are probed every 0.25 s
and 4 clients submit. Exit 1 if granian is not installed or a run fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # bench/run.py

GRANIAN = [sys.executable, str(run.ROOT / "bench" / "granian_serve.py")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if importlib.util.find_spec("granian") is None:
        print("granian is not installed: pip install granian (a bench comparison; aidnet does not use it)",
              file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="aidnet-granian-"))
    run.say(f"(b) end to end, 16 clients, {args.seconds:g} s a run: aidnet serve (read-first) against granian, "
            f"{args.pairs} pairs in turn")
    ratios = []
    for n in range(args.pairs):
        ours, theirs = (run.end_to_end(run.new_instance(work, f"pair{n}{side}"), args.seconds,
                                       work / f"logs-pair{n}{side}", {"AIDNET_GROUP_COMMIT": "on"},
                                       command=GRANIAN if side == "g" else None) for side in "rg")
        ratios.append(ours["rate"] / theirs["rate"])
        run.say(f"    pair {n + 1}: {ours['rate']:6.0f} /s against {theirs['rate']:6.0f} /s = x{ratios[-1]:.3f}   "
                f"p99 {ours['p99']:5.1f} / {theirs['p99']:5.1f} ms   server CPU a submission "
                f"{ours['server_ms']:.2f} / {theirs['server_ms']:.2f} ms   5xx {ours['errors']:.0f} / "
                f"{theirs['errors']:.0f}")
    run.say(f"    median of the pair ratios: x{statistics.median(ratios):.3f} (read-first / granian)")
    run.say("(g) granian, 64 slow connections for 30 s (a byte every 2 s), 4 clients submitting, probes every 0.25 s")
    r = run.slow_clients(run.new_instance(work, "slow"), 30.0, work / "logs-slow", 64, command=GRANIAN)
    run.say(f"    held {r['held_min']:.0f}-{r['held_max']:.0f} (cut off and reopened {r['cut']:.0f})   "
            f"healthz p99 {r['healthz_p99']:6.1f} ms   login p99 {r['login_p99']:6.1f} ms   "
            f"{r['late']:.0f} of {r['probes']:.0f} probes late (>= 1 s) or failed   "
            f"{r['rate']:5.1f} submissions/s, {r['errors']:.0f} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
