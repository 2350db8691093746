"""Run the app under gunicorn: a production WSGI server, never Flask's dev server.

Access logs are off; the error log is scrubbed of IP addresses before it is
written, in case a library ever puts one into a message.

One port serves everything (the embedded default). Given a coordinator port,
the server listens on two loopback ports and routes by the socket a
connection actually arrived on (not by any header a client can forge): the
public port has no coordinator routes at all, so the public onion service,
which points only at it, cannot reach a coordinator page.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import signal
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from ..config import PID_FILE, Settings
from ..records.budget import IntakeBudget
from ..store import Durability
from ..web.app import create_app
from .worker import block_stops_for_fork, keep_stop_signals_sent_while_forking, unblock_stops, worker_class_for

_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\b")

# Defaults sized for a 2-core box. Each worker is a process with a few threads:
# threads overlap waiting on the disk, processes use both cores for Argon2 and sealing.
# Eight threads, not four: submissions waiting for the one writer lock share a commit
# (groupcommit.py), so more of them in flight make fewer, larger commits: +10% in
# bench/ with 16 clients. Argon2's memory stays bounded (crypto.keys.ARGON2_AT_ONCE).
DEFAULT_WORKERS = 2
THREADS = 8
# A worker silent this long is killed and replaced (a stuck request cannot hold it).
TIMEOUT_SECONDS = 30
# On restart (SIGHUP, SIGTERM) a worker gets this long to finish what it is answering.
GRACEFUL_SECONDS = 20
# Workers are replaced after this many requests (± jitter, so they do not all
# restart at once): bounds slow leaks and keeps any one process's memory young.
# A new worker costs ~1 s of CPU (imports, app, templates); at 1,000 requests a
# busy 2-core box replaced one every few seconds and lost ~20% of its
# submission rate, p99 up by a third or more (bench/run.py). 20,000 is about a minute at full load.
MAX_REQUESTS = 20000
MAX_REQUESTS_JITTER = 2000
# Header limits; the body limit is Flask's MAX_CONTENT_LENGTH (64 KiB, 413 beyond).
LIMIT_REQUEST_LINE = 4094
LIMIT_REQUEST_FIELDS = 50
LIMIT_REQUEST_FIELD_SIZE = 8190
KEEPALIVE_SECONDS = 5


# Messages about one client's request (a malformed request line, path or chunk). They would
# quote what was sent and, stamped with a time by the log, say when someone came: dropped.
_PER_REQUEST = ("Invalid", "Error handling request", "Exception on", "Bad request", "Malformed")


class ScrubFilter(logging.Filter):
    """No address, nothing a client sent, and no line about one client's request reaches the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(echo in message for echo in _PER_REQUEST):
            return False
        record.msg = _IP.sub("[addr]", "".join(c if c.isprintable() else "?" for c in message))
        record.args = None
        # A traceback's last line is the exception's message, which can quote input: never print it.
        record.exc_info, record.exc_text = None, None
        return True


class QuietLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """Gunicorn's logger with access logs dropped and addresses scrubbed."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.addFilter(ScrubFilter())
            # No clock time on lines (under systemd the journal stamps them anyway; they are
            # about the server, never about one request).
            handler.setFormatter(logging.Formatter("aidnet-server %(levelname)s %(message)s"))

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class PortRouter:
    """Send each connection to the app for the local port it arrived on.

    The local address comes from the accepted socket itself (getsockname), so
    neither a Host header nor anything else a client sends can pick the app.
    """

    def __init__(self, by_port: dict[int, WSGIApp], fallback: WSGIApp) -> None:
        self.by_port = by_port
        self.fallback = fallback

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        try:
            port = int(sock.getsockname()[1]) if sock is not None else -1
        except (OSError, TypeError, IndexError, ValueError):
            port = -1
        return self.by_port.get(port, self.fallback)(environ, start_response)


def stop_for_disk(master: int) -> None:
    """The disk refused to make a commit durable: stop the whole server now (SIGQUIT to its master)."""
    logging.getLogger("aidnet").error(
        "the disk refused to make a commit durable: stopping; check the disk, then start aidnet again")
    try:
        os.kill(master, signal.SIGQUIT)  # gunicorn: quick shutdown of master and workers
    except OSError:
        pass  # the master is gone already


def _write_pid(path: Path) -> None:
    part = path.with_name(path.name + ".part")
    try:
        part.write_text(f"{os.getpid()}\n", encoding="ascii")
        os.replace(part, path)
    except OSError:
        # A read-only instance folder must not stop the server; restore/rekey just cannot see it.
        logging.getLogger("aidnet").warning("cannot write the server pid file")


def _remove_pid(path: Path) -> None:
    try:
        if path.read_text(encoding="ascii").strip() == str(os.getpid()):
            path.unlink()
    except (OSError, UnicodeDecodeError):
        pass  # already gone, or another server's: leave it


def server_options(host: str, port: int, workers: int, coordinator_port: int | None = None,
                   pidfile: Path | None = None) -> dict[str, Any]:
    """The gunicorn settings aidnet runs with (tests read them too)."""
    binds = [f"{host}:{port}"]
    if coordinator_port is not None:
        binds.append(f"{host}:{coordinator_port}")
    options: dict[str, Any] = {
        "bind": binds,
        "workers": workers,
        # gthread that reads each request whole before a thread sees it, with the coordinator
        # port's threads its own, accepting only with a thread free (worker.py).
        "worker_class": worker_class_for(coordinator_port),
        "threads": THREADS,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "logger_class": QuietLogger,
        "timeout": TIMEOUT_SECONDS,
        "graceful_timeout": GRACEFUL_SECONDS,
        "keepalive": KEEPALIVE_SECONDS,
        "max_requests": MAX_REQUESTS,
        "max_requests_jitter": MAX_REQUESTS_JITTER,
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        # Never trust X-Forwarded-*: Tor connects from loopback and nothing upstream may speak for a client.
        "forwarded_allow_ips": "",
        # Each worker builds its own app and database connections; SIGHUP reloads code too.
        "preload_app": False,
        # gunicorn's control socket would be one more way in, and a file in $HOME.
        "control_socket_disable": True,
        "proc_name": "aidnet",
        # A stop sent while a worker is being forked is not lost (worker.py).
        "pre_fork": block_stops_for_fork,
        "post_fork": keep_stop_signals_sent_while_forking,
    }
    if pidfile is not None:
        # restore and rekey read it to refuse to swap the database under a live server.
        # Not gunicorn's own pidfile: that one refuses to start when a pid left by a
        # kill -9 has been reused by another process; this one only informs.
        options["when_ready"] = lambda _arbiter: _write_pid(pidfile)
        options["on_exit"] = lambda _arbiter: _remove_pid(pidfile)
    return options


class AidnetServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, host: str, port: int, workers: int,
                 coordinator_port: int | None = None) -> None:
        self.settings = settings
        self.port = port
        self.coordinator_port = coordinator_port
        self.options = server_options(host, port, workers, coordinator_port, settings.instance / PID_FILE)
        # Made here, in the master, so every worker it forks (and each replacement) counts in the same memory.
        self.intake = IntakeBudget()
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # In a worker: if the disk ever refuses an fdatasync, stop the whole server at once
        # (SIGQUIT to the master) rather than let the other worker go on giving receipts.
        # Both apps of this worker share one Durability: a refused commit stops both.
        durability = Durability(on_lost=partial(stop_for_disk, os.getppid()))
        handler = logging.StreamHandler()
        handler.addFilter(ScrubFilter())
        handler.setFormatter(logging.Formatter("aidnet %(levelname)s %(message)s"))
        logging.getLogger("aidnet").addHandler(handler)
        if self.coordinator_port is None:
            app: Any = create_app(self.settings, durability=durability, budget=self.intake)
        else:
            public = create_app(self.settings, role="public", durability=durability, budget=self.intake)
            coordinator = create_app(self.settings, durability=durability, budget=self.intake)
            # Anything not on the coordinator port gets the public app: the safe side.
            app = PortRouter({self.port: public, self.coordinator_port: coordinator}, public)
        # Everything loaded so far lives as long as the worker: keep the cyclic
        # collector from walking it again and again (CPython's gc.freeze).
        gc.collect()
        gc.freeze()
        return app


def serve(settings: Settings, host: str, port: int, workers: int = DEFAULT_WORKERS,
          coordinator_port: int | None = None) -> None:
    # A shell that starts a program in the background makes it ignore SIGINT and SIGQUIT, and
    # children inherit that. The stop at a refused commit is a SIGQUIT, and Ctrl-C must stop the
    # server: every signal it relies on takes its default action again before anything starts.
    for number, action in ((signal.SIGQUIT, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
        if signal.getsignal(number) == signal.SIG_IGN:
            signal.signal(number, action)
    # The master blocks stops across each fork of a worker (worker.py): unblock them right after it.
    os.register_at_fork(after_in_parent=unblock_stops)
    AidnetServer(settings, host, port, workers, coordinator_port).run()
