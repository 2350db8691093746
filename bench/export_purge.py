"""Benchmark: an export over one million counter events, and a purge over 100,000 requests.

Each figure is printed beside this machine's baseline measured in the same run
(a fixed hashing loop, and plain inserts into the same kind of SQLCipher file),
so numbers from different machines can be compared as ratios.

    .venv-test/bin/python bench/export_purge.py            # full size
    .venv-test/bin/python bench/export_purge.py --scale 0.01
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aidnet import dates  # noqa: E402
from aidnet.config import create_instance, load_settings  # noqa: E402
from aidnet.exports import periods, releases  # noqa: E402
from aidnet.records import retention  # noqa: E402
from aidnet.store import Store, counters, open_store  # noqa: E402

TODAY = dt.date(2026, 3, 18)
MONTH = "2026-02"


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def baseline_cpu() -> float:
    """SHA-256 over 64 MiB: what one core of this machine does in a fixed amount of work."""
    block = b"\0" * (1 << 20)

    def work() -> None:
        h = hashlib.sha256()
        for _ in range(64):
            h.update(block)
    return timed(work)


def baseline_db(store: Store, rows: int) -> float:
    """Plain inserts of `rows` 1 KiB rows into a scratch table, one commit: this disk and SQLCipher."""
    store.conn.execute("CREATE TABLE IF NOT EXISTS bench_scratch (id INTEGER PRIMARY KEY, data BLOB)")

    def work() -> None:
        with store.write() as tx:
            tx.executemany("INSERT INTO bench_scratch (data) VALUES (?)", ((secrets.token_bytes(1024),) for _ in range(rows)))
    spent = timed(work)
    with store.write() as tx:
        tx.execute("DROP TABLE bench_scratch")
    return spent


def bump_events(store: Store, settings, events: int) -> float:  # type: ignore[no-untyped-def]
    """`events` counter bumps spread over the month's weeks, categories, areas and events, 10,000 per commit."""
    _, weeks = periods.weeks_of(MONTH)
    keys = [(w, c, a, e) for w in weeks for c in settings.categories for a in settings.areas
            for e in releases.REQUEST_EVENTS + releases.OFFER_EVENTS]

    def work() -> None:
        done = 0
        while done < events:
            n = min(10_000, events - done)
            with store.write() as tx:
                for i in range(done, done + n):
                    counters.bump(tx, *keys[(i * 7919) % len(keys)])
                for i in range(done, done + n, 100):
                    counters.bump_money(tx, weeks[i % len(weeks)], "food", ("in", "out")[i % 2], 1000 + i % 5000)
            done += n
    return timed(work)


def insert_requests(store: Store, count: int) -> float:
    expired = dates.today() - 1

    def work() -> None:
        for start in range(0, count, 10_000):
            with store.write() as tx:
                tx.executemany(
                    "INSERT INTO requests (id, envelope, status, expires_day, lookup_hash, reply_public)"
                    " VALUES (?, ?, 'new', ?, ?, ?)",
                    ((secrets.token_bytes(16), secrets.token_bytes(1200), expired, secrets.token_bytes(32),
                      secrets.token_bytes(32)) for _ in range(start, min(start + 10_000, count))))
    return timed(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes (1.0 = 1M events, 100k purged)")
    args = parser.parse_args()
    events = max(1000, int(1_000_000 * args.scale))
    records = max(1000, int(100_000 * args.scale))
    with tempfile.TemporaryDirectory(prefix="aidnet-bench-") as folder:
        os.umask(0o077)
        instance = Path(folder) / "instance"
        create_instance(instance)
        settings = load_settings(instance)
        store = open_store(settings)
        store.migrate()
        cpu = baseline_cpu()
        db = baseline_db(store, records)
        print(f"baseline  cpu: sha256 of 64 MiB            {cpu * 1000:9.1f} ms")
        print(f"baseline  db:  insert {records:>7,} rows, 1 commit {db * 1000:9.1f} ms")
        bumped = bump_events(store, settings, events)
        print(f"bump      {events:>9,} counter events        {bumped * 1000:9.1f} ms  ({bumped / db:5.2f} x db baseline)")
        for label, noise in (("suppression only", False), ("noise + suppression", True)):
            policy = settings.policy.__class__(**{**settings.policy.__dict__, "noise": noise})
            run_settings = settings.__class__(**{**settings.__dict__, "policy": policy})
            with store.write() as tx:
                tx.execute("DELETE FROM releases")
                (settings.instance / releases.PUBLISHED_FILE).unlink(missing_ok=True)  # the bench releases a month again
                tx.execute("DELETE FROM budget")
            spent = timed(lambda s=run_settings: releases.make_release(store, s, MONTH, TODAY))
            print(f"export    month over {events:>9,} events ({label:<19}) {spent * 1000:9.1f} ms"
                  f"  ({spent / cpu:6.2f} x cpu baseline)")
        # The hard case for suppression: many small cells, and the month's weeks released before it.
        sparse = open_store(settings)
        with sparse.write() as tx:
            tx.execute("DELETE FROM releases")
            (settings.instance / releases.PUBLISHED_FILE).unlink(missing_ok=True)  # the bench releases a month again
            tx.execute("DELETE FROM budget")
            tx.execute("DELETE FROM counters")
            tx.execute("DELETE FROM money")
            _, weeks = periods.weeks_of(MONTH)
            for n, key in enumerate((w, c, a, e) for w in weeks for c in settings.categories for a in settings.areas
                                    for e in releases.REQUEST_EVENTS + releases.OFFER_EVENTS):
                for _ in range((0, 0, 1, 2, 3, 5, 8, 12, 20)[(n * 7) % 9]):
                    counters.bump(tx, *key)
        plain = settings.__class__(**{**settings.__dict__, "policy": settings.policy.__class__(
            **{**settings.policy.__dict__, "noise": False})})
        for week in weeks:
            releases.make_release(sparse, plain, week, TODAY)
        spent = timed(lambda: releases.make_release(sparse, plain, MONTH, TODAY))
        sparse.close()
        print(f"export    month after its weeks, many small cells    {spent * 1000:9.1f} ms"
              f"  ({spent / cpu:6.2f} x cpu baseline)")
        inserted = insert_requests(store, records)
        print(f"insert    {records:>9,} expired requests      {inserted * 1000:9.1f} ms  ({inserted / db:5.2f} x db baseline)")
        report = None

        def purge() -> None:
            nonlocal report
            report = retention.purge(store, settings)
        spent = timed(purge)
        assert report is not None and report.requests == records
        print(f"purge     {records:>9,} requests + checkpoint   {spent * 1000:9.1f} ms  ({spent / db:5.2f} x db baseline)")
        again = timed(lambda: retention.purge(store, settings))
        print(f"purge     again (nothing due)               {again * 1000:9.1f} ms")
        store.close()


if __name__ == "__main__":
    main()
