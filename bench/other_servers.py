"""Other WSGI servers against `aidnet serve`: the end-to-end figure in alternating pairs, then slow clients.

    .venv-test/bin/pip install granian waitress    # by hand: bench comparisons, aidnet depends on neither
    .venv-test/bin/python bench/other_servers.py [--servers ...] [--pairs 3] [--seconds 10] [--attackers 64 128]

Issue 13 asked to choose the server by measurement: the one that holds the slow-client test *and* keeps or
improves the end-to-end submission figure. This runs the same app under each other server
(bench/granian_serve.py: Rust HTTP, 2 workers, with granian's own 256 Python threads a worker ("granian")
or with aidnet's 8 ("granian-8"); bench/waitress_serve.py: one process that reads each request whole,
16 threads) with bench/run.py's own (b) and (g): 16 clients submitting through the real
forms, each pair one run of `aidnet serve` and one of the other a few seconds apart; then, for each count
of slow connections (a byte every 2 s, half in the headers, half in a body), 30 s of it against `aidnet
serve` and against the other server, with 4 clients submitting and `/healthz` and the login page probed
every 0.25 s. The other servers listen on one port, so their login page is probed on the attacked port;
`aidnet serve` is probed on its coordinator port, as in bench/run.py (g). A server that is not installed is
skipped with a line saying so; exit 1 if none is.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # bench/run.py
from shims import not_installed

# name: (the module it needs, the shim and its options)
SERVERS = {"granian": ("granian", ["granian_serve.py"]), "granian-8": ("granian", ["granian_serve.py", "--threads", "8"]),
           "waitress": ("waitress", ["waitress_serve.py"])}


def pairs(name: str, command: list[str], work: Path, count: int, seconds: float) -> None:
    run.say(f"(b) end to end, 16 clients, {seconds:g} s a run: aidnet serve (read-first) against {name}, "
            f"{count} pairs in turn")
    ratios = []
    for n in range(count):
        ours, theirs = (run.end_to_end(run.new_instance(work, f"{name}{n}{side}"), seconds,
                                       work / f"logs-{name}{n}{side}", {"AIDNET_GROUP_COMMIT": "on"},
                                       command=command if side == "o" else None) for side in "ro")
        ratios.append(ours["rate"] / theirs["rate"])
        run.say(f"    pair {n + 1}: {ours['rate']:6.0f} /s against {theirs['rate']:6.0f} /s = x{ratios[-1]:.3f}   "
                f"p99 {ours['p99']:5.1f} / {theirs['p99']:5.1f} ms   server CPU a submission "
                f"{ours['server_ms']:.2f} / {theirs['server_ms']:.2f} ms   5xx {ours['errors']:.0f} / "
                f"{theirs['errors']:.0f}")
    run.say(f"    median of the pair ratios: x{statistics.median(ratios):.3f} (read-first / {name})")


def slow(name: str, command: list[str], work: Path, attackers: list[int]) -> None:
    for count in attackers:
        run.say(f"(g) {count} slow connections for 30 s, 4 clients submitting, probes every 0.25 s")
        for label, cmd in (("aidnet serve", None), (name, command)):
            r = run.slow_clients(run.new_instance(work, f"slow-{name}-{count}-{label[0]}"), 30.0,
                                 work / f"logs-slow-{name}-{count}-{label[0]}", count, command=cmd)
            run.say(f"    {label:12s}: held {r['held_min']:.0f}-{r['held_max']:.0f} (cut off and reopened "
                    f"{r['cut']:.0f})   healthz p99 {r['healthz_p99']:6.1f} ms   login p99 {r['login_p99']:6.1f} ms"
                    f"   {r['late']:.0f} of {r['probes']:.0f} probes late (>= 1 s) or failed   "
                    f"{r['rate']:5.1f} submissions/s, {r['errors']:.0f} errors")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    parser.add_argument("--dir", type=Path, default=None, help="where instances go (default: a temp dir on /var/tmp)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--attackers", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()
    installed = [name for name in args.servers if importlib.util.find_spec(SERVERS[name][0]) is not None]
    for name in args.servers:
        if name not in installed:
            print(f"{name}: {not_installed(SERVERS[name][0])}", file=sys.stderr)
    if not installed:
        return 1
    os.umask(0o077)
    work = Path(tempfile.mkdtemp(prefix="aidnet-servers-", dir=args.dir or "/var/tmp"))
    try:
        run.say(f"aidnet other servers  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  cores={os.cpu_count()}  "
                f"load average before={os.getloadavg()[0]:.2f}  disk: {work}  fsync of 4 KiB = {run.fsync_ms(work):.2f} ms")
        for name in installed:
            script, *options = SERVERS[name][1]
            command = [sys.executable, str(run.ROOT / "bench" / script), *options]
            pairs(name, command, work, args.pairs, args.seconds)
            slow(name, command, work, args.attackers)
        run.say(f"load average after={os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
