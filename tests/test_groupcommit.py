"""Group commit: concurrent submissions in one process share one durable commit.

A Store whose transactions take 40 ms (standing in for a slow fsync) makes
the threads queue; fewer commits than submissions must happen, and no thread
may return before its row is visible to a fresh connection (committed).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlcipher3

import crypto
from aidnet.config import Settings, load_settings
from aidnet.errors import ReplayedForm
from aidnet.records.requests import RequestDetails, submit_request
from aidnet.store import StorageError, Store, Tx, groupcommit, open_store
from aidnet.store import requests as request_rows

THREADS = 8


class SlowStore(Store):
    commits = 0
    fail = False
    lock = threading.Lock()

    @classmethod
    def on(cls, settings: Settings) -> Store:
        return cls(settings.database, settings.db_key, settings.lock_file, group_commit=settings.group_commit)

    @contextmanager
    def write(self, sync: bool = True) -> Iterator[sqlcipher3.Connection]:
        with super().write(sync) as tx:
            yield tx
            time.sleep(0.04)
            if SlowStore.fail:
                raise StorageError("commit failed")  # as if COMMIT could not reach the disk
        with SlowStore.lock:
            SlowStore.commits += 1


def _details(n: int) -> RequestDetails:
    return RequestDetails("food", "north", f"group commit {n}", "", "today")


def _submit_all(settings: Settings, nonces: list[str]) -> list[object]:
    outcomes: list[object] = [None] * len(nonces)
    start = threading.Barrier(len(nonces))

    def one(n: int) -> None:
        store = SlowStore.on(settings)
        try:
            start.wait()
            try:
                codename = submit_request(store, settings, _details(n), nonces[n])
            except Exception as exc:  # recorded for the assertions below
                outcomes[n] = exc
                return
            # Returned: the row must already be committed, visible to another connection.
            fresh = open_store(settings)
            try:
                lookup = crypto.derive_codename(codename, settings.codename_salt).lookup_hash
                outcomes[n] = codename if request_rows.by_lookup(fresh, lookup) else "NOT COMMITTED"
            finally:
                fresh.close()
        finally:
            store.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(nonces))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


@pytest.fixture(autouse=True)
def _reset() -> None:
    SlowStore.commits, SlowStore.fail = 0, False


def test_concurrent_submissions_share_commits(settings: Settings, store: Store) -> None:
    outcomes = _submit_all(settings, [secrets.token_urlsafe(16) for _ in range(THREADS)])
    assert all(isinstance(o, str) and o != "NOT COMMITTED" for o in outcomes), outcomes
    assert request_rows.count(store) == THREADS
    assert 1 <= SlowStore.commits < THREADS  # shared: 8 submissions, fewer durable commits


def test_a_replayed_form_in_a_batch_fails_alone(settings: Settings, store: Store) -> None:
    nonces = [secrets.token_urlsafe(16) for _ in range(THREADS - 1)]
    outcomes = _submit_all(settings, [*nonces, nonces[0]])
    replays = [o for o in outcomes if isinstance(o, ReplayedForm)]
    assert len(replays) == 1
    assert sum(isinstance(o, str) and o != "NOT COMMITTED" for o in outcomes) == THREADS - 1
    assert request_rows.count(store) == THREADS - 1


def test_a_failed_commit_fails_everyone_in_it_and_keeps_nothing(settings: Settings, store: Store) -> None:
    SlowStore.fail = True
    outcomes = _submit_all(settings, [secrets.token_urlsafe(16) for _ in range(THREADS)])
    assert all(isinstance(o, StorageError) for o in outcomes), outcomes
    assert request_rows.count(store) == 0
    assert store.conn.execute("SELECT count(*) FROM used_forms").fetchone()[0] == 0


def test_switched_off_it_is_one_commit_per_submission(settings: Settings, store: Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDNET_GROUP_COMMIT", "off")
    settings = load_settings(settings.instance)  # the switch is read once, with the settings
    assert not settings.group_commit
    baseline = open_store(settings)
    try:  # the baseline bench/ compares with: SQLite's own FULL commit, fsync under the lock
        assert baseline.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        baseline.close()
    outcomes = _submit_all(settings, [secrets.token_urlsafe(16) for _ in range(THREADS)])
    assert all(isinstance(o, str) and o != "NOT COMMITTED" for o in outcomes), outcomes
    assert SlowStore.commits == THREADS


def test_a_clashing_row_fails_alone(settings: Settings, store: Store) -> None:
    """An IntegrityError leaves the shared transaction sound: only that piece of work is refused."""
    outcomes: list[object] = [None] * THREADS
    start = threading.Barrier(THREADS)

    def one(n: int) -> None:
        own = SlowStore.on(settings)
        nonce = b"same" if n < 2 else secrets.token_bytes(16)

        def work(tx: Tx) -> str:
            tx.execute("INSERT INTO used_forms (nonce_hash, expires_day) VALUES (?, 1)", (nonce,))
            return "ok"
        try:
            start.wait()
            outcomes[n] = groupcommit.run(own, work)
        except StorageError as exc:
            outcomes[n] = exc
        finally:
            own.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes.count("ok") == THREADS - 1
    assert sum(isinstance(o, StorageError) for o in outcomes) == 1
    assert store.conn.execute("SELECT count(*) FROM used_forms").fetchone()[0] == THREADS - 1


def test_an_interrupted_waiter_passes_on_the_lead() -> None:
    queue = groupcommit.Queue()
    first, second = (groupcommit.Item(lambda tx: None, queue.lock) for _ in range(2))
    queue.busy, queue.pending = True, [first, second]
    first.lead = True  # handed the lead, then interrupted before taking it
    with queue.lock:
        groupcommit.leave(queue, first)
    assert queue.pending == [second] and second.lead and queue.busy
    with queue.lock:
        second.lead = False
        groupcommit.leave(queue, second)  # not the leader: leaving changes nothing else
    assert queue.pending == [] and queue.busy


def test_a_refused_piece_that_had_written_is_undone_and_the_batch_runs_again(store: Store) -> None:
    """No savepoints: a refusal after a write rolls the batch back and runs it again without that piece.

    A refusal before any write (a replayed form's first insert inserts nothing) costs no second run.
    """
    runs: dict[str, int] = {}

    def insert(name: str, then_refuse: Exception | None = None, write: bool = True) -> groupcommit.Work[str]:
        def work(tx: Tx) -> str:
            runs[name] = runs.get(name, 0) + 1
            if write:
                tx.execute("INSERT INTO used_forms (nonce_hash, expires_day) VALUES (?, 1)", (name.encode(),))
            if then_refuse is not None:
                raise then_refuse
            return name
        return work

    queue = groupcommit.Queue()
    refused_late, refused_early = ReplayedForm(), ReplayedForm()
    items = [groupcommit.Item(work, queue.lock) for work in (
        insert("first"), insert("wrote-then-refused", refused_late), insert("refused-first", refused_early, write=False),
        insert("last"))]
    queue.pending = list(items)  # type: ignore[arg-type]
    taken: list[groupcommit.Item[object]] = []
    assert groupcommit.run_batch(store, queue, taken)
    assert [i.result for i in items] == ["first", None, None, "last"]
    assert items[1].error is refused_late and items[2].error is refused_early
    assert runs == {"first": 2, "wrote-then-refused": 1, "refused-first": 1, "last": 1}
    kept = {bytes(r[0]) for r in store.conn.execute("SELECT nonce_hash FROM used_forms")}
    assert kept == {b"first", b"last"}


class GatedStore(Store):
    """The first fdatasync (Store.sync) waits until the test opens the gate."""

    gate, reached, first = threading.Event(), threading.Event(), threading.Lock()

    @classmethod
    def on(cls, settings: Settings) -> Store:
        return cls(settings.database, settings.db_key, settings.lock_file, group_commit=settings.group_commit)

    def sync(self) -> None:
        if GatedStore.first.acquire(blocking=False):
            GatedStore.reached.set()
            GatedStore.gate.wait(10)
        super().sync()


def test_no_receipt_before_the_fdatasync_and_the_next_batch_does_not_wait_for_it(settings: Settings) -> None:
    GatedStore.gate.clear()
    GatedStore.reached.clear()
    outcomes: dict[str, object] = {}

    def submit(name: str) -> None:
        own = GatedStore.on(settings)
        try:
            outcomes[name] = submit_request(own, settings, _details(0), secrets.token_urlsafe(16))
        finally:
            own.close()

    first = threading.Thread(target=submit, args=("first",))
    first.start()
    assert GatedStore.reached.wait(10)  # committed, its fdatasync not yet done
    second = threading.Thread(target=submit, args=("second",))
    second.start()
    second.join(10)
    assert isinstance(outcomes.get("second"), str)  # led, committed and synced its own batch meanwhile
    assert first.is_alive() and "first" not in outcomes  # still no receipt for the first
    GatedStore.gate.set()
    first.join(10)
    assert isinstance(outcomes.get("first"), str)


def test_a_failed_fdatasync_gives_no_receipt(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Store) -> None:
        raise StorageError("cannot make the commit durable")

    monkeypatch.setattr(SlowStore, "sync", refuse)
    outcomes = _submit_all(settings, [secrets.token_urlsafe(16) for _ in range(THREADS)])
    assert all(isinstance(o, StorageError) for o in outcomes), outcomes
