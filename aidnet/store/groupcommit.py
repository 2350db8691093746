"""Group commit: concurrent writers in one process share one durable commit.

Every commit waits for an fsync (1-10 ms on a real disk). Threads of one
worker that want to write at the same moment queue here; the first becomes
the leader, takes the writer lock, then takes every piece of work queued by
then (so what queued while another process held the lock rides along), runs
them one after another inside one transaction, commits once, hands the lead
to the first who queued meanwhile (whose batch can run while this one's
fdatasync is on its way to the disk: connection.py), and once the fdatasync
returns wakes those in its batch. So:

- nobody returns (and no receipt is shown) before the commit holding its
  rows is on disk;
- a piece of work that raises (a replayed form) gets its own exception back
  and none of its writes are kept, while the others' are;
- if the transaction or the commit fails, every piece in it gets
  StorageError: none of it was kept.

A refused piece has usually written nothing yet (a replayed form is refused
by its first insert, which inserted nothing); the connection's change count
says so. If it had written, the transaction is rolled back and the batch run
again without it. That costs a second run in a rare case instead of a
SAVEPOINT for every piece: in SQLCipher a savepoint copies and encrypts each
page it touches, ~0.2 ms of a ~1 ms submission inside the writer lock
(bench/). So a piece of work may run more than once: only its last run's
writes are kept, and it must not act outside the transaction (the one
exception, the intake budget's count in memory, errs toward taking fewer:
records/budget.py). It must write
rows only (no schema changes, which the count does not see) and finish each
statement it starts (a RETURNING row left unread is not counted yet).

Across worker processes the file lock in Store.write() still serialises the
leaders. No thread waits on a timer to gather a batch: a batch is whatever
queued while the previous commit was on its way to disk.

A piece of work must write only through the transaction it is handed (the
leader's connection), never through its own Store's connection.

A Store opened with group_commit=False (AIDNET_GROUP_COMMIT=off in the
environment when the settings are loaded) turns it all off: one commit per
piece of work, each SQLite's own synchronous=FULL commit with its fsync under
the writer lock. bench/ uses it as the baseline.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import sqlcipher3

from .connection import StorageError, Store, Tx

T = TypeVar("T")
Work = Callable[[Tx], T]


class Item(Generic[T]):
    __slots__ = ("work", "result", "error", "done", "lead", "wake")

    def __init__(self, work: Work[T], lock: threading.Lock) -> None:
        self.work = work
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False  # handed the lead by the leader before it
        # Its own wake-up, on the queue's lock: a commit wakes the threads in it and
        # the next leader, not every thread waiting (8 a worker, most still queued).
        self.wake = threading.Condition(lock)


class Queue:
    """Pending work of one database in this process, and whether a leader is committing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[Item[object]] = []
        self.busy = False


_queues: dict[str, Queue] = {}
_queues_lock = threading.Lock()


def _reset_after_fork() -> None:
    # A child must not inherit a parent's half-held locks or queued items.
    global _queues_lock
    _queues.clear()
    _queues_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _queue_for(store: Store) -> Queue:
    with _queues_lock:
        return _queues.setdefault(store.path_key, Queue())


class _Redo(Exception):
    """A refused piece of work had already written: the batch must run again without it."""


def run_batch(store: Store, queue: Queue, taken: list[Item[object]]) -> bool:
    """Take the writer lock, then everything queued by then, and run it in one transaction.

    True once it is committed, False if none of it was kept. The batch is taken
    only once the lock is ours: whatever queued while another process held it
    shares this commit instead of waiting for the next one.
    """
    while True:
        try:
            with store.write(sync=False) as tx:  # run() syncs once it has handed on the lead
                if not taken:  # a batch run again keeps its members; newcomers wait for the next
                    with queue.lock:
                        taken.extend(queue.pending)
                        queue.pending = []
                for item in taken:
                    if item.error is None:  # not refused in an earlier run of this batch
                        _run_item(tx, item)
        except _Redo:
            continue  # rolled back by Store.write(); the refused piece keeps its error
        except (StorageError, sqlcipher3.Error):
            return False
        return True


def _run_item(tx: Tx, item: Item[object]) -> None:
    changes = tx.total_changes
    try:
        item.result = item.work(tx)
        return
    except sqlcipher3.IntegrityError:  # this item's rows clash; SQLite undid that statement only
        item.error = StorageError("write refused")
    except sqlcipher3.Error:
        raise  # the transaction itself is in doubt (disk full, I/O): fail the whole batch
    except Exception as exc:  # a domain refusal (a replayed form)
        item.error = exc
    item.result = None
    if tx.total_changes != changes:
        raise _Redo  # it wrote before it was refused: undo everything, run the others again


def run(store: Store, work: Work[T]) -> T:
    """Run work(tx) in a write transaction shared with concurrent callers; durable on return.

    Raises what work raised (its writes undone), or StorageError if the
    shared transaction could not be committed (nothing of it was kept).
    """
    if not store.group_commit:
        with store.write() as tx:
            return work(tx)
    queue = _queue_for(store)
    item: Item[T] = Item(work, queue.lock)
    with queue.lock:
        queue.pending.append(item)  # type: ignore[arg-type]  # items are opaque to the queue
        if queue.busy:
            try:
                while not item.done and not item.lead:
                    item.wake.wait()
            except BaseException:
                leave(queue, item)  # interrupted while waiting: never strand the queue
                raise
            if item.done:
                return _outcome(item)
        queue.busy = True  # this thread leads; its own item stays queued until it takes the batch
    taken: list[Item[object]] = []
    durable = handed = False
    try:
        if run_batch(store, queue, taken):  # committed, not on disk yet
            with queue.lock:
                _hand_over(queue)  # the next batch runs while this one's fdatasync is on its way
                handed = True
            store.sync()
            durable = True
    finally:
        with queue.lock:
            if not taken:  # failed (or interrupted) before taking a batch: fail those waiting now
                taken, queue.pending = queue.pending, []
            for other in taken:
                if not durable:  # also when the leader itself was interrupted
                    other.result = None
                    other.error = StorageError("group commit failed")
                other.done = True
                other.wake.notify()
            if not handed:
                _hand_over(queue)
    return _outcome(item)


def _hand_over(queue: Queue) -> None:
    """The first of those who queued meanwhile leads the next commit; none: the queue is idle."""
    if queue.pending:
        queue.pending[0].lead = True
        queue.pending[0].wake.notify()
    else:
        queue.busy = False


def leave(queue: Queue, item: Item[T]) -> None:
    """A waiting item gives up (its thread was interrupted); if it had been handed the lead, pass it on."""
    if item in queue.pending:
        queue.pending.remove(item)  # type: ignore[arg-type]
    if item.lead and not item.done:
        _hand_over(queue)


def _outcome(item: Item[T]) -> T:
    if item.error is not None:
        raise item.error
    return item.result  # type: ignore[return-value]  # work's own return value
