"""aidnet's app under granian (a Rust HTTP server with a WSGI interface): a bench comparison, never a server.

    python bench/granian_serve.py [--threads T] serve --instance DIR --port P --workers N

Issue 13 named granian as one way to keep slow clients away from the Python threads. This runs the same
app as `aidnet serve` on one port, with no access log, HTTP/1, and headers due within 10 s as the read-first
worker asks, so bench/other_servers.py can time it against `aidnet serve` and try the slow-client attack
on it. --threads sets granian's "blocking threads" a worker, the Python threads that run the app
(default: granian's own, half its backpressure: 1024 / workers / 2, so 256 a worker with 2 workers;
`aidnet serve` has 8). The app and the command line are bench/shims.py's. granian is not a dependency of
aidnet: install it by hand, for the interpreter that runs the bench (`pip install granian`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from shims import app_for, not_installed, serve_arguments

ROOT = Path(__file__).resolve().parent.parent


def make_app() -> Any:
    """In each granian worker (granian calls this factory)."""
    return app_for(Path(os.environ["AIDNET_BENCH_INSTANCE"]))


def main() -> int:
    parser = serve_arguments(__doc__, workers=2)
    parser.add_argument("--threads", type=int, default=None, help="blocking threads a worker (default: granian's)")
    args = parser.parse_args()
    try:
        from granian import Granian
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings
    except ImportError:
        print(not_installed("granian"), file=sys.stderr)
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
