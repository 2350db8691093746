"""`aidnet` with gunicorn's own gthread worker in place of the read-first one: the bench's baseline, never a server.

    python bench/stock_worker.py serve --instance DIR --port P --workers N

Everything but the worker class is aidnet's own (settings, app, threads, logs, the CLI), so bench/run.py (b)
can run the end-to-end figure of both workers in alternating pairs, in the same run. The stock worker is the
one 16 slow connections stopped outright (issue 13; docs/performance.md, "Slow clients (g)"): a bench
baseline only, which is why no setting of aidnet itself can choose it.
"""

from __future__ import annotations

import sys

from aidnet.cli.main import main
from aidnet.serve import server

server.worker_class_for = lambda coordinator_port: "gthread"  # type: ignore[attr-defined,assignment,return-value]

if __name__ == "__main__":
    sys.exit(main())
