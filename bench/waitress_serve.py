"""aidnet's app under waitress (pure Python; reads each request whole in its event loop): a comparison, never a server.

    python bench/waitress_serve.py serve --instance DIR --port P [--workers N]

waitress buffers a request before any thread sees it, which is what issue 13 asks of a server, but it is one
process: here with 16 threads, as many as `aidnet serve` has in its two workers (--workers is taken and
ignored, so bench/run.py can start it like `aidnet serve`). No access log (waitress writes none); the app is
built as `aidnet serve` builds it, without its log filter, gc.freeze() and stop on a refused fsync. waitress
is not a dependency of aidnet: install it by hand, for the interpreter that runs the bench.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--instance", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    try:
        import waitress
    except ImportError:
        print("waitress is not installed: pip install waitress (a bench comparison; aidnet does not use it)",
              file=sys.stderr)
        return 1
    from aidnet.config import load_settings
    from aidnet.records.budget import IntakeBudget
    from aidnet.serve.server import DEFAULT_WORKERS, THREADS
    from aidnet.store import Durability
    from aidnet.web.app import create_app

    app = create_app(load_settings(args.instance), durability=Durability(), budget=IntakeBudget())
    waitress.serve(app, host="127.0.0.1", port=args.port, threads=DEFAULT_WORKERS * THREADS, ident="aidnet",
                   _quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
