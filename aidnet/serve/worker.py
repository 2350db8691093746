"""gunicorn's threaded worker, made to read a whole request before any thread sees it.

Slow clients. gunicorn's gthread worker hands a connection to a thread as soon
as it is accepted, and the thread then reads with no deadline once the first
bytes arrive: 16 connections sending a byte every 2 s held all 2 x 8 threads
and locked out /healthz and the coordinator login (issue 13). Here the
worker's main loop reads each request itself, without blocking, into memory:
the request line and headers within HEADER_SECONDS of the connection (or of
the first byte after a kept-alive wait), then the body at no less than
BODY_MIN_BYTES_PER_SECOND after a short grace. A connection that falls behind
is cut off. A thread gets a connection only when the request is complete in
memory (or when the parser will refuse it without reading more: a body
announced larger than the 64 KiB limit gets its 413 and the connection is
closed). A kernel receive/send timeout on every socket is the backstop should
any read in a thread still wait.

Capacity. Each listening socket has its own thread pool: the coordinator
port's threads cannot be taken by the public port, whatever it is sent.

Balance. Every worker waits on the same listening sockets, and gunicorn
accepts whenever a connection is there, however busy its threads are; a
kept-alive connection then stays with the worker that took it. When
connections came together one worker could end up with 13 and the other
with 3 (in bench/ that split cost 20% of the submission rate). So a worker
stops accepting on a port while all that port's threads are taken, and the
kernel keeps the connection in the listen backlog for a worker that can
start on it. Connections being read or kept alive do not count.

Closing. A connection that is not kept alive is half-closed and left to
drain for a moment in the main loop, never in a blocking linger there.
"""

from __future__ import annotations

import errno
import queue
import selectors
import signal
import socket
import struct
import time
from concurrent import futures
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from ..web.app import MAX_BODY_BYTES

# A request's line and headers must be in within this long.
HEADER_SECONDS = 10.0
# A stopping worker (reload, shutdown) still waits this long for the first bytes of a connection it
# accepted: a client on a loaded phone connects, then sends a moment later. Silent beyond it: cut off,
# so silent connections cannot hold a stop for the whole header deadline (new workers serve meanwhile).
STOP_SILENT_SECONDS = 3.0
# After the headers, a body has this long before the rate below applies.
BODY_GRACE_SECONDS = 5.0
# A body must then keep up at least this rate on average (a 64 KiB form: ~70 s at worst).
BODY_MIN_BYTES_PER_SECOND = 1024
# Request line and headers larger than this are cut off (a browser's are under 2 KiB).
HEADER_MAX_BYTES = 32 * 1024
# The largest body a thread is handed; Flask answers 413 beyond it.
BODY_MAX_BYTES = MAX_BODY_BYTES
# Chunked bodies carry framing; allow that much over the limit before cutting off.
CHUNKED_SLACK_BYTES = 16 * 1024
# The backstop: no read or write in a thread waits longer than this for the client.
SOCKET_BACKSTOP_SECONDS = 10
# A connection that is closed after its answer may drain this long (as gunicorn's own linger).
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 64 * 1024
# Threads of each worker kept for the coordinator port, whatever the public port does.
COORDINATOR_THREADS = 4

_COMPLETE, _WAITING, _TOO_BIG, _REFUSE_NOW = "complete", "waiting", "too big", "refuse now"


def request_state(data: bytes | bytearray) -> tuple[str, int]:
    """Whether data holds a whole HTTP/1 request: (state, bytes of line and headers).

    "refuse now": the headers are in and the parser will answer without reading
    further (a body over the limit, or a length it will reject as malformed).
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return (_TOO_BIG if len(data) > HEADER_MAX_BYTES else _WAITING), 0
    head_size = end + 4
    if head_size > HEADER_MAX_BYTES:
        return _TOO_BIG, 0
    lengths: list[bytes] = []
    chunked = False
    for line in bytes(data[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            lengths.append(value.strip())
        elif name == b"transfer-encoding":
            chunked = chunked or b"chunked" in value.lower()
    body = len(data) - head_size
    if chunked:
        if lengths:
            return _REFUSE_NOW, head_size  # both framings: the parser refuses it
        if body > BODY_MAX_BYTES + CHUNKED_SLACK_BYTES:
            return _TOO_BIG, head_size
        return _chunked_state(bytes(data[head_size:])), head_size
    if not lengths:
        return _COMPLETE, head_size
    if len(set(lengths)) != 1 or not lengths[0].isdigit():
        return _REFUSE_NOW, head_size
    announced = int(lengths[0])
    if announced > BODY_MAX_BYTES:
        return _REFUSE_NOW, head_size
    return (_COMPLETE if body >= announced else _WAITING), head_size


_HEX = frozenset(b"0123456789abcdefABCDEF")


def _chunked_state(body: bytes) -> str:
    """Whether a chunked body is all in: complete, waiting, refuse now (bad framing), or too big."""
    pos = total = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return _TOO_BIG if len(body) - pos > 1024 else _WAITING
        size_text = body[pos:eol].split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 8 or not set(size_text) <= _HEX:
            return _REFUSE_NOW  # the parser answers 400 from this line alone
        size = int(size_text, 16)
        total += size
        if total > BODY_MAX_BYTES:
            return _TOO_BIG
        pos = eol + 2
        if size == 0:  # the last chunk, then trailers (usually none) and an empty line
            if body[pos:pos + 2] == b"\r\n" or body.find(b"\r\n\r\n", pos) >= 0:
                return _COMPLETE
            return _TOO_BIG if len(body) - pos > 8192 else _WAITING
        if len(body) < pos + size + 2:
            return _WAITING
        if body[pos + size:pos + size + 2] != b"\r\n":
            return _REFUSE_NOW
        pos += size + 2


def _set_backstop(sock: socket.socket) -> None:
    # SO_RCVTIMEO/SO_SNDTIMEO apply to blocking calls only, so the main loop's reads are unaffected.
    value = struct.pack("ll", SOCKET_BACKSTOP_SECONDS, 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    except OSError:
        pass  # the socket is already gone; the read that follows says so


class ReadFirstWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type hints
    """gthread, with requests read whole in the main loop and a thread pool per listening port.

    Everything here runs on the worker's main thread (gunicorn calls accept,
    the readable callbacks, enqueue_req and finish_request there), so the
    counts and the connection table need no lock.
    """

    # Set by worker_class_for(): the port whose connections get their own pool.
    coordinator_port: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_pool: dict[bool, int] = {False: 0, True: 0}  # by "is a coordinator connection"
        self.wants_accept = False  # what gunicorn's own loop last asked for: False once it is stopping
        self.listening: set[Any] = set()
        self.roles: dict[Any, bool] = {}  # listening socket -> is it the coordinator port
        self.coordinator_pool: futures.ThreadPoolExecutor | None = None
        self.reading: dict[Any, float] = {}  # connection -> when its request started
        self.lingering: dict[Any, list[float]] = {}  # half-closed socket -> [when to close it, bytes drained]

    # -- pools and the accept gate --------------------------------------------------------

    def init_process(self) -> None:
        self.coordinator_pool = futures.ThreadPoolExecutor(max_workers=COORDINATOR_THREADS)
        super().init_process()

    def handle_quit(self, sig: Any, frame: Any) -> None:
        if self.coordinator_pool is not None:
            self.coordinator_pool.shutdown(wait=False)
        super().handle_quit(sig, frame)

    def _is_coordinator(self, address: Any) -> bool:
        try:
            return self.coordinator_port is not None and int(address[1]) == self.coordinator_port
        except (TypeError, IndexError, ValueError):
            return False

    def _threads(self, coordinator: bool) -> int:
        return COORDINATOR_THREADS if coordinator else int(self.cfg.threads)

    def has_free_thread(self, coordinator: bool = False) -> bool:
        return self.in_pool[coordinator] < self._threads(coordinator)

    def set_accept_enabled(self, enabled: bool) -> None:
        self.wants_accept = enabled
        self._accepting = enabled  # gunicorn's loop compares with this: only ask again on a change
        self._gate()

    def enqueue_req(self, conn: Any) -> None:
        """Hand a connection whose request is in memory to its port's thread pool."""
        coordinator = self._is_coordinator(getattr(conn, "server", None))
        pool = self.coordinator_pool if coordinator and self.coordinator_pool is not None else self.tpool
        fs = pool.submit(self.handle, conn)
        fs.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))
        self.in_pool[coordinator] += 1
        self._gate()

    def _gate(self) -> None:
        # gunicorn's own test (asked to accept, room for another connection), plus a free thread
        # for that port. A worker that is stopping (SIGTERM, or its master gone) never opens again.
        room = self.nr_conns < self.worker_connections
        if not self.roles:  # which listener is which, asked of each socket once
            for listener in self.sockets:
                try:
                    self.roles[listener] = self._is_coordinator(listener.getsockname())
                except OSError:
                    continue
        for listener, coordinator in self.roles.items():
            want = self.alive and self.wants_accept and room and self.has_free_thread(coordinator)
            if want and listener not in self.listening:
                listener.setblocking(False)
                self.poller.register(listener, selectors.EVENT_READ, self.accept)
                self.listening.add(listener)
            elif not want and listener in self.listening:
                self.poller.unregister(listener)
                self.listening.discard(listener)

    # -- reading a request in the main loop ----------------------------------------------

    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        _set_backstop(client_sock)
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self._read_request(conn, b"")
        self._gate()

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection has its next request coming: read it here, not in a thread."""
        self.keepalived_conns.remove(conn)
        # Still registered for the kept-alive wait: read what is there first (usually the whole
        # request), and only a request still incomplete switches to the reading callback.
        self._start_request(conn, b"")
        self._on_bytes(conn, client)  # complete: unregistered and handed over; client gone: dropped
        if conn in self.reading:
            self.poller.modify(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    def _start_request(self, conn: Any, already: bytes) -> None:
        conn.pending = bytearray(already)
        conn.close_after = False
        conn.headers_at = None
        conn.data_ready = True  # gthread's own wait for a first byte is never needed again
        self.reading[conn] = time.monotonic()

    def _read_request(self, conn: Any, already: bytes) -> None:
        self._start_request(conn, already)
        if already and self._maybe_complete(conn):
            return
        conn.sock.setblocking(False)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    def _on_bytes(self, conn: Any, client: Any) -> None:
        if conn not in self.reading:
            return
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(conn)
            return
        conn.pending += data
        self._maybe_complete(conn, registered=True)

    def _maybe_complete(self, conn: Any, registered: bool = False) -> bool:
        state, head_size = request_state(conn.pending)
        if state == _TOO_BIG:
            self._drop(conn)
            return True
        if state == _WAITING:
            if head_size and conn.headers_at is None:
                conn.headers_at = time.monotonic()
            return False
        if registered:
            self.poller.unregister(conn.sock)
        del self.reading[conn]
        # A body over the limit is answered 413 unread; the connection then closes, never drains.
        conn.close_after = state == _REFUSE_NOW
        self.enqueue_req(conn)
        return True

    def _drop(self, conn: Any) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass  # not registered (it was completing)
        self.reading.pop(conn, None)
        self.nr_conns -= 1
        conn.close()
        self._gate()

    def cut_slow(self, now: float) -> None:
        """Cut off every connection whose headers are late or whose body falls under the rate."""
        for conn, started in list(self.reading.items()):
            headers_at = conn.headers_at
            if headers_at is None:
                waited = now - started
                late = waited > HEADER_SECONDS or (not self.alive and not conn.pending and waited > STOP_SILENT_SECONDS)
            else:
                _, head_size = request_state(conn.pending)
                body = len(conn.pending) - head_size
                late = now - headers_at > BODY_GRACE_SECONDS and \
                    body < (now - headers_at - BODY_GRACE_SECONDS) * BODY_MIN_BYTES_PER_SECOND
            if late:
                self._drop(conn)

    def murder_keepalived(self, force: bool = False) -> None:
        # gunicorn calls this after every wait for events (under load, every few events; idle, once a
        # second) and with force=True at the end.
        super().murder_keepalived(force)
        now = time.monotonic()
        if force:
            for conn in list(self.reading):
                self._drop(conn)
        else:
            self.cut_slow(now)
        for sock, (until, _drained) in list(self.lingering.items()):
            if force or now >= until:
                self._end_linger(sock)

    # -- in the thread, and after ----------------------------------------------------------

    def handle(self, conn: Any) -> Any:
        pending = bytes(getattr(conn, "pending", b""))
        conn.pending = bytearray()
        conn.sock.setblocking(True)
        conn.init()
        if pending:
            conn.parser.unreader.unread(pending)
        return super().handle(conn)

    def _keepalive_after(self, conn: Any, keepalive: Any) -> bool:
        if getattr(conn, "close_after", False):
            return False
        return bool(super()._keepalive_after(conn, keepalive))

    def finish_request(self, conn: Any, fs: Any) -> None:
        self.in_pool[self._is_coordinator(getattr(conn, "server", None))] -= 1
        try:
            result = fs.result() if not fs.cancelled() else False
            if result:
                # Kept alive. What a body drain read ahead is the start of the next request: it too
                # is read whole here before a thread sees it.
                leftover = conn.parser.unreader.take_buffered()
                if leftover:
                    self._read_request(conn, leftover)
                else:
                    self._keep_alive(conn)
                return
            self.nr_conns -= 1
            self._start_linger(conn)
        except Exception:
            self.nr_conns -= 1
            conn.close()
        finally:
            self._gate()

    def _keep_alive(self, conn: Any) -> None:
        conn.sock.setblocking(False)
        conn.set_timeout()
        if not self.alive:
            conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
        self.keepalived_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def _start_linger(self, conn: Any) -> None:
        sock = conn.sock
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._on_linger_bytes)
        except (OSError, ValueError, KeyError):
            util.close(sock)
            return
        self.lingering[sock] = [time.monotonic() + LINGER_SECONDS, 0]

    def _on_linger_bytes(self, sock: Any) -> None:
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        entry = self.lingering.get(sock)
        if entry is None:
            return
        entry[1] += len(data)
        if not data or entry[1] > LINGER_MAX_BYTES:
            self._end_linger(sock)

    def _end_linger(self, sock: Any) -> None:
        self.lingering.pop(sock, None)
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass  # never registered
        util.close(sock)


_STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def block_stops_for_fork(arbiter: Any, worker: Any) -> None:
    """gunicorn's pre_fork hook, in the master: hold stops back across the fork (see the post_fork hook).

    A stop that reached a new worker before CPython's own after-fork code ran was cleared there, before
    any Python in the worker could see it. Blocked, it stays pending in the kernel instead. The master
    unblocks right after the fork (unblock_stops, registered with os.register_at_fork by serve()), the
    worker at the end of its post_fork hook.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)


def unblock_stops() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


def keep_stop_signals_sent_while_forking(arbiter: Any, worker: Any) -> None:
    """gunicorn's post_fork hook: a stop sent to a worker before it has its own signal handlers stops it.

    A forked worker runs the master's handlers until it installs its own, and those only queue a signal
    in the worker's copy of the master's queue, where nothing reads it. A SIGTERM to the whole server
    (systemctl stop, Ctrl-C) just as a worker was being replaced (a reload, or max_requests) was lost:
    that worker went on accepting connections until the master's 20 s grace ran out and it was killed.
    From here until the worker's own handlers take over, a stop only marks it stopping; one already
    queued does the same, and one held back by the pre_fork hook arrives when this unblocks it. A
    stopping worker's loop never starts: it loads the app and exits.
    """
    def stopping(sig: int, frame: Any) -> None:
        worker.alive = False

    try:
        for number in _STOPS:
            signal.signal(number, stopping)
        pending = getattr(arbiter, "SIG_QUEUE", None)
        while pending is not None:
            try:
                number = pending.get_nowait()
            except (queue.Empty, IndexError):
                break
            if number in _STOPS:
                worker.alive = False
    finally:
        unblock_stops()  # never leave a worker deaf to stops: a held one is delivered to `stopping` now


def worker_class_for(coordinator_port: int | None) -> type[ReadFirstWorker]:
    """The worker class for a server whose coordinator port (if any) gets threads of its own."""
    return type("ReadFirstWorker", (ReadFirstWorker,), {"coordinator_port": coordinator_port})
