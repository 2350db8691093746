"""aidnet's app under waitress (pure Python; reads each request whole in its event loop): a comparison, never a server.

    python bench/waitress_serve.py serve --instance DIR --port P [--workers N]

waitress buffers a request before any thread sees it, which is what issue 13 asks of a server, but it is one
process: here with 16 threads, as many as `aidnet serve` has in its two workers (--workers is taken and
ignored). No access log (waitress writes none); the app and the command line are bench/shims.py's. waitress
is not a dependency of aidnet: install it by hand, for the interpreter that runs the bench.
"""

from __future__ import annotations

import sys

from shims import app_for, not_installed, serve_arguments


def main() -> int:
    args = serve_arguments(__doc__, workers=1).parse_args()
    try:
        import waitress
    except ImportError:
        print(not_installed("waitress"), file=sys.stderr)
        return 1
    from aidnet.serve.server import DEFAULT_WORKERS, THREADS

    waitress.serve(app_for(args.instance), host="127.0.0.1", port=args.port, threads=DEFAULT_WORKERS * THREADS,
                   ident="aidnet", _quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
