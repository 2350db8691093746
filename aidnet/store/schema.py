"""The database's schema: migrations applied in order, the version kept in PRAGMA user_version.

A migration is appended, never edited: an instance made by any earlier
release walks forward through every step after its version.
"""

from __future__ import annotations

import functools

import sqlcipher3

MIGRATIONS = [
    # 1: the first slice
    """
    CREATE TABLE requests (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        envelope BLOB NOT NULL,
        status TEXT NOT NULL,
        expires_day INTEGER NOT NULL,
        lookup_hash BLOB NOT NULL UNIQUE,
        reply_public BLOB NOT NULL
    );
    CREATE TABLE replies (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        request_id BLOB NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        envelope BLOB NOT NULL
    );
    CREATE INDEX replies_by_request ON replies(request_id, seq);
    CREATE TABLE coordinators (
        id INTEGER PRIMARY KEY,
        handle TEXT NOT NULL UNIQUE,
        box_public BLOB NOT NULL,
        sign_public BLOB NOT NULL,
        wrapped_keys BLOB NOT NULL
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        coordinator_id INTEGER NOT NULL REFERENCES coordinators(id) ON DELETE CASCADE,
        wrapped_keys BLOB NOT NULL,
        idle_until INTEGER NOT NULL,
        hard_until INTEGER NOT NULL
    );
    CREATE TABLE counters (
        week TEXT NOT NULL,
        category TEXT NOT NULL,
        area TEXT NOT NULL,
        event TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (week, category, area, event)
    );
    CREATE TABLE throttle (
        key BLOB PRIMARY KEY,
        window INTEGER NOT NULL,
        count INTEGER NOT NULL
    );
    CREATE TABLE used_forms (
        nonce_hash BLOB PRIMARY KEY,
        expires_day INTEGER NOT NULL
    );
    """,
    # decision log (community-held keys), offers and stock: see decision_log.py and offers.py
    """
    CREATE TABLE log (
        seq INTEGER PRIMARY KEY,
        record BLOB NOT NULL
    );
    CREATE TABLE proposals (
        id TEXT PRIMARY KEY,
        arrival INTEGER NOT NULL UNIQUE,
        proposal BLOB NOT NULL,
        signatures BLOB NOT NULL,
        declines BLOB NOT NULL,
        state TEXT NOT NULL
    );
    CREATE TABLE offers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        envelope BLOB NOT NULL,
        status TEXT NOT NULL,
        expires_day INTEGER NOT NULL,
        lookup_hash BLOB NOT NULL UNIQUE,
        reply_public BLOB NOT NULL
    );
    CREATE TABLE stock (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        envelope BLOB NOT NULL,
        expires_day INTEGER NOT NULL
    );
    -- a key rotation waiting for quorum: new public keys (64 bytes) + the new passphrase-wrapped keys
    ALTER TABLE coordinators ADD COLUMN next_keys BLOB;
    """,
    # retention and exports: money totals, signed releases, the privacy budget ledger,
    # sealed reasons for keeping a request longer. See releases.py, counters.py and retention.py.
    """
    CREATE TABLE money (
        week TEXT NOT NULL,
        category TEXT NOT NULL,
        direction TEXT NOT NULL,
        amount INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (week, category, direction)
    );
    CREATE TABLE releases (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        period TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        last_week TEXT NOT NULL,
        manifest BLOB NOT NULL,
        csv BLOB NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE TABLE budget (
        week TEXT NOT NULL,
        period TEXT NOT NULL,
        epsilon TEXT NOT NULL,
        PRIMARY KEY (week, period)
    );
    CREATE TABLE extensions (
        id BLOB PRIMARY KEY,
        request_id BLOB NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        until_day INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE INDEX extensions_by_request ON extensions(request_id);
    """,
    # the requester's answers in a conversation, sealed to the coordinators (aidnet/records/conversation.py);
    # after_replies places each answer after the coordinators' replies it followed.
    """
    CREATE TABLE answers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        request_id BLOB NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        envelope BLOB NOT NULL,
        after_replies INTEGER NOT NULL
    );
    CREATE INDEX answers_by_request ON answers(request_id, seq);
    """,
    # optional TOTP second factor for coordinators (aidnet/records/totp.py, second_factor.py):
    # the secret is sealed to the coordinator's own X25519 key; recovery codes are Argon2id hashes.
    """
    CREATE TABLE second_factor (
        coordinator_id INTEGER PRIMARY KEY REFERENCES coordinators(id) ON DELETE CASCADE,
        sealed_secret BLOB NOT NULL,
        last_step INTEGER NOT NULL,
        recovery_salt BLOB NOT NULL,
        recovery_params TEXT NOT NULL
    );
    CREATE TABLE recovery_codes (
        coordinator_id INTEGER NOT NULL REFERENCES coordinators(id) ON DELETE CASCADE,
        code_hash BLOB NOT NULL,
        PRIMARY KEY (coordinator_id, code_hash)
    );
    """,
    # each request counts at most once per event (so one person moves a published count by at most 1),
    # and decision notes kept apart from the log so retention can erase them with their request
    """
    ALTER TABLE requests ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE notes (
        proposal_id TEXT PRIMARY KEY,
        request_id BLOB REFERENCES requests(id) ON DELETE CASCADE,
        envelope BLOB NOT NULL
    );
    CREATE INDEX notes_by_request ON notes(request_id);
    """,
    # every submission writes these two: one B-tree each (WITHOUT ROWID) instead of a
    # table plus the index of its key, so fewer pages to encrypt inside the writer lock
    """
    CREATE TABLE used_forms_new (
        nonce_hash BLOB PRIMARY KEY,
        expires_day INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO used_forms_new SELECT nonce_hash, expires_day FROM used_forms;
    DROP TABLE used_forms;
    ALTER TABLE used_forms_new RENAME TO used_forms;
    CREATE TABLE counters_new (
        week TEXT NOT NULL,
        category TEXT NOT NULL,
        area TEXT NOT NULL,
        event TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (week, category, area, event)
    ) WITHOUT ROWID;
    INSERT INTO counters_new SELECT week, category, area, event, count FROM counters;
    DROP TABLE counters;
    ALTER TABLE counters_new RENAME TO counters;
    """,
    # each account's self-signed member card (crypto.cards), made with its keys; accounts made
    # before get theirs at their owner's next login
    """
    ALTER TABLE coordinators ADD COLUMN card_sig TEXT;
    """,
    # membership decisions made final without keys at hand (from offline signatures): open records are
    # re-sealed by the next keyholder who signs in, and the Decisions page says so until then
    """
    CREATE TABLE reseal_due (
        proposal_id TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    """,
    # working together: who handles a request (a coordinator id: it says nothing about the requester),
    # whether the last turn of its conversation was the coordinators' (waiting for the requester), what
    # each coordinator saw last in the inbox, and the language each coordinator reads the pages in.
    # Partial indexes: a new submission (no handler, not waiting) adds nothing to them.
    """
    ALTER TABLE requests ADD COLUMN handler INTEGER REFERENCES coordinators(id) ON DELETE SET NULL;
    ALTER TABLE requests ADD COLUMN awaiting INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX requests_by_handler ON requests(handler, seq) WHERE handler IS NOT NULL;
    CREATE INDEX requests_by_handler_status ON requests(handler, status, seq) WHERE handler IS NOT NULL;
    CREATE INDEX requests_awaiting ON requests(seq) WHERE awaiting = 1;
    CREATE INDEX requests_by_status ON requests(status, seq) WHERE status != 'new';
    ALTER TABLE coordinators ADD COLUMN last_seen_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE coordinators ADD COLUMN language TEXT;
    """,
    # issue 14: where an allocation or hand-over will count (category, area) and a money allocation's exact
    # amount, kept at proposal (the proposer can read the request), so a decision made final from offline
    # signatures counts in its real category; the row goes when the decision is final or closed. The log
    # itself carries only a coarse band of the amount; exact amounts paid stay here, for the balance.
    """
    CREATE TABLE pending_where (
        proposal_id TEXT PRIMARY KEY,
        category TEXT,
        area TEXT,
        amount INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE money_paid (
        proposal_id TEXT PRIMARY KEY,
        request TEXT NOT NULL,
        amount INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # verdict: the requester's own verdict on help received (one per request; the answers and the comment
    # sealed to the readers, only "a verdict was given" in clear; it goes with its request), and the
    # allocations a requester declined before the hand-over (their ids only: they free the offer or money)
    """
    CREATE TABLE verdicts (
        request_id BLOB PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
        id BLOB NOT NULL UNIQUE,
        envelope BLOB NOT NULL
    );
    CREATE TABLE declined (
        allocation TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    """,
    # period keys (crypto.periods): each month's key, its secret sealed to the readers and its statement
    # signed by the member who made it; a record sealed to it carries its hint. Destroyed when no record
    # of a past month needs it any more (retention).
    """
    CREATE TABLE period_keys (
        hint BLOB PRIMARY KEY,
        period TEXT NOT NULL,
        public BLOB NOT NULL,
        sealed BLOB NOT NULL,
        statement BLOB NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE INDEX period_keys_by_period ON period_keys(period);
    """,
    # money: money received counts for the balance only once a signed receipt in the log is final
    # (money_received, exact amounts: the log carries the band). money_paid learns each payout's category and
    # week (balances per category; the money table's dominance rule). A stock row is linked to its receipt; rows
    # recorded before receipts were signed were counted in the public counters already (counted = 1): they no
    # longer count for the balance until a keyholder proposes each as a receipt, which then moves no counter again.
    """
    CREATE TABLE money_received (
        proposal_id TEXT PRIMARY KEY,
        category TEXT NOT NULL,
        week TEXT NOT NULL,
        amount INTEGER NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE money_paid ADD COLUMN category TEXT;
    ALTER TABLE money_paid ADD COLUMN week TEXT;
    ALTER TABLE stock ADD COLUMN receipt TEXT;
    ALTER TABLE stock ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
    UPDATE stock SET counted = 1;
    """,
    # the intake budget counts in memory now (records/budget.py): a row keyed by its minute named the arrival
    # minute of the newest public submission. Drop what an older version kept (secure_delete zeroes the pages).
    """
    DELETE FROM throttle WHERE substr(key, 1, 7) = CAST('intake:' AS BLOB);
    """,
]


def migrate(tx: sqlcipher3.Connection) -> int:
    """Apply pending migrations inside the caller's write transaction; the schema version after.

    A new, empty database gets in one step the schema the migrations build (fresh_schema):
    the same tables, read back from SQLite, without replaying every rebuild and ALTER.
    """
    version = int(tx.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and tx.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        for statement in fresh_schema(tuple(MIGRATIONS)):
            tx.execute(statement)
        tx.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        return len(MIGRATIONS)
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in script.split(";"):
            if statement.strip():
                tx.execute(statement)
        tx.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)


@functools.lru_cache(maxsize=4)
def fresh_schema(migrations: tuple[str, ...]) -> tuple[str, ...]:
    """The CREATE statements of every table and index the migrations make, in the order SQLite keeps them.

    Built once a process by walking every migration in a database in memory (unencrypted: it
    holds no rows), because replaying the ALTERs costs ~0.1 s a new database under SQLCipher's
    memory security. tests/test_storage.py checks that both ways give the same schema.
    """
    conn = sqlcipher3.connect(":memory:", isolation_level=None)
    try:
        for script in migrations:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
        return tuple(sql for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"))
    finally:
        conn.close()
