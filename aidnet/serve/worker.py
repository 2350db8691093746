"""gunicorn's threaded worker, taking a new connection only while it has a thread free.

Every worker waits on the same listening socket, and gunicorn's gthread
worker accepts whenever a connection is there, however busy its threads
are. A kept-alive connection then stays with the worker that took it. So
when connections come together (a burst, or a load test's 16 clients) one
worker could end up with 13 and the other with 3: one process's threads
queue behind its one GIL while the other core idles. In bench/ that split
cost 20% of the submission rate, and it varied from run to run.

Here a worker whose threads are all taken stops accepting until one is
free, and the connection goes to a worker that can start on it (the kernel
keeps it in the listen backlog meanwhile). Kept-alive connections sitting
idle do not count, so this adds no cap on open connections.
"""

from __future__ import annotations

from typing import Any

from gunicorn.workers.gthread import ThreadWorker


class FreeThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type hints
    # Everything here runs on the worker's main thread (gunicorn calls enqueue_req and
    # finish_request there), so the count needs no lock.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_pool = 0  # connections handed to the thread pool, not yet back
        self.wants_accept = False  # what gunicorn's own loop last asked for: False once it is stopping

    def has_free_thread(self) -> bool:
        threads: int = self.cfg.threads
        return self.in_pool < threads

    def set_accept_enabled(self, enabled: bool) -> None:
        self.wants_accept = enabled
        self._gate()

    def enqueue_req(self, conn: Any) -> None:
        super().enqueue_req(conn)
        self.in_pool += 1
        self._gate()

    def finish_request(self, conn: Any, fs: Any) -> None:
        self.in_pool -= 1
        super().finish_request(conn, fs)  # may hand the connection straight back (enqueue_req)
        self._gate()

    def _gate(self) -> None:
        # gunicorn's own test (asked to accept, room for another connection), plus a free thread.
        # A worker that is stopping (SIGTERM, or its master gone) never opens again.
        room = self.nr_conns < self.worker_connections
        super().set_accept_enabled(self.alive and self.wants_accept and room and self.has_free_thread())
