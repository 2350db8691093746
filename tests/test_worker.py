"""The server's worker takes a new connection only while one of its threads is free (aidnet/worker.py)."""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import pytest
from gunicorn.config import Config

from aidnet.serve.worker import FreeThreadWorker


class _Conn:
    closed = False

    def close(self, graceful: bool = False) -> None:
        self.closed = True


@pytest.fixture
def worker() -> Iterator[tuple[FreeThreadWorker, socket.socket, dict[_Conn, threading.Event]]]:
    cfg = Config()
    cfg.set("threads", 2)
    listener = socket.create_server(("127.0.0.1", 0))
    w = FreeThreadWorker(0, 0, [listener], None, 30, cfg, logging.getLogger("test"))
    w.tpool, w.poller = futures.ThreadPoolExecutor(max_workers=2), selectors.DefaultSelector()
    w.method_queue.init()
    answered: dict[_Conn, threading.Event] = {}

    def handle(conn: _Conn) -> bool:  # stands in for answering a request; False: close the connection
        answered[conn].wait(10)
        return False

    w.handle = handle
    yield w, listener, answered
    for event in answered.values():
        event.set()
    w.tpool.shutdown(wait=True)
    w.poller.close()
    w.method_queue.close()
    listener.close()
    w.tmp.close()


def _listening(w: FreeThreadWorker, listener: socket.socket) -> bool:
    try:
        w.poller.get_key(listener)
    except KeyError:
        return False
    return True


def _new_request(w: FreeThreadWorker, answered: dict[_Conn, threading.Event]) -> _Conn:
    conn = _Conn()
    answered[conn] = threading.Event()
    w.nr_conns += 1
    w.enqueue_req(conn)
    return conn


def _answer(w: FreeThreadWorker, answered: dict[Any, threading.Event], conn: _Conn) -> None:
    answered[conn].set()
    for _ in range(200):  # the pool thread hands the finished request to the main thread's queue
        w.method_queue.run_callbacks(None)
        if conn.closed:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the request was not finished")


def test_a_worker_with_every_thread_busy_stops_accepting_until_one_is_free(worker: Any) -> None:
    w, listener, answered = worker
    w.set_accept_enabled(True)
    assert _listening(w, listener)
    first = _new_request(w, answered)
    assert _listening(w, listener)  # one of two threads still free
    second = _new_request(w, answered)
    assert not _listening(w, listener) and w.in_pool == 2  # both busy: leave new connections to another worker
    w.set_accept_enabled(True)  # gunicorn's own loop asking again changes nothing while both are busy
    assert not _listening(w, listener)
    _answer(w, answered, first)
    assert _listening(w, listener) and w.in_pool == 1
    _answer(w, answered, second)
    assert _listening(w, listener) and w.in_pool == 0


@pytest.mark.parametrize("how", ["SIGTERM", "master gone"])
def test_a_stopping_worker_does_not_start_accepting_again(worker: Any, how: str) -> None:
    w, listener, answered = worker
    w.set_accept_enabled(True)
    first, second = _new_request(w, answered), _new_request(w, answered)
    if how == "SIGTERM":
        w.alive = False
    else:  # gunicorn's loop ends with alive still True, stops accepting, and waits for what is open
        w.set_accept_enabled(False)
    _answer(w, answered, first)
    _answer(w, answered, second)
    assert not _listening(w, listener) and w.in_pool == 0
