"""aidnet's app under granian (a Rust HTTP server with a WSGI interface): a bench comparison, never a server.

    python bench/granian_serve.py [--threads T] serve --instance DIR --port P --workers N

Issue 13 named granian as one way to keep slow clients away from the Python threads. This runs the same
app as `aidnet serve` on one port, with no access log, HTTP/1, and headers due within 10 s as the read-first
worker asks, so bench/other_servers.py can time it against `aidnet serve` and try the slow-client attack
on it. --threads sets granian's "blocking threads" a worker, the Python threads that run the app
(default: granian's own, half its backpressure: 1024 / workers / 2, so 256 a worker with 2 workers;
`aidnet serve` has 8). The app is built as `aidnet serve` builds it, without its log filter, gc.freeze()
and stop on a refused fsync (none of which the bench reaches). granian is not a dependency of aidnet:
install it by hand, for the interpreter that runs the bench (`pip install granian`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def make_app() -> Any:
    """In each granian worker: the app `aidnet serve` runs on a single port (granian calls this factory)."""
    from aidnet.config import load_settings
    from aidnet.records.budget import IntakeBudget
    from aidnet.store import Durability
    from aidnet.web.app import create_app

    settings = load_settings(Path(os.environ["AIDNET_BENCH_INSTANCE"]))
    # Each worker counts the intake budget alone (bench/run.py gives the bench room for all it sends).
    return create_app(settings, durability=Durability(), budget=IntakeBudget())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--instance", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="blocking threads a worker (default: granian's)")
    args = parser.parse_args()
    try:
        from granian import Granian
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings
    except ImportError:
        print("granian is not installed: pip install granian (a bench comparison; aidnet does not use it)",
              file=sys.stderr)
        return 1
    from aidnet.serve.worker import HEADER_SECONDS

    os.environ["AIDNET_BENCH_INSTANCE"] = str(args.instance.resolve())
    sys.path.insert(0, str(ROOT / "bench"))  # so each worker can import this module's factory
    Granian("granian_serve:make_app", address="127.0.0.1", port=args.port, interface=Interfaces.WSGI,
            workers=args.workers, blocking_threads=args.threads, factory=True, log_access=False, http="1",
            http1_settings=HTTP1Settings(header_read_timeout=int(HEADER_SECONDS * 1000))).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
