"""Real instance folders with a real SQLCipher file, Argon2 made cheap through config (never in the code)."""

from __future__ import annotations

import secrets
from pathlib import Path

import crypto
from aidnet.config import Settings, create_instance, load_settings
from aidnet.decisions.proposals import genesis_from_accounts, has_genesis
from aidnet.records import conversation, coordinators
from aidnet.sealing import periods
from aidnet.store import Store, open_store
from aidnet.store import accounts as account_rows

PASSPHRASE = "correct horse battery staple"
# Cheap Argon2 for tests, allowed only because the config says test_only (a real instance is refused).
FAST_ARGON2 = "[argon2]\ntime_cost = 1\nmemory_kib = 8192\nparallelism = 1\ntest_only = true\n"
# Room for the many submissions a minute most tests make; the budget itself is tested in test_flood.py.
ROOMY_INTAKE = ("requests_per_minute = 30\noffers_per_minute = 10\n",
                "requests_per_minute = 100000\noffers_per_minute = 100000\n")


def make_instance(path: Path) -> Settings:
    """A fresh instance whose Argon2 cost is lowered in its config (never in the code)."""
    create_instance(path)
    config = path / "config.toml"
    text = config.read_text()
    text = text[: text.index("[argon2]")].replace(*ROOMY_INTAKE) + FAST_ARGON2
    config.write_text(text)
    return load_settings(path)


def add_coordinator(settings: Settings, handle: str = "alice", passphrase: str = PASSPHRASE) -> None:
    """Add a coordinator account; the first one also founds the decision log (1 of 1).

    Later accounts are not readers until a quorum signs their membership.
    """
    with open_store(settings) as store:
        store.migrate()
        coordinators.add_coordinator(store, settings, handle, passphrase)
        if not has_genesis(store):
            genesis_from_accounts(store, [(handle, passphrase)], quorum=1)


def account_keys(store: Store, handle: str = "alice", passphrase: str = PASSPHRASE) -> crypto.KeyPair:
    """An account's keys, opened with its passphrase, as its owner's session would hold them (with the
    period secrets sealed to them)."""
    row = account_rows.by_handle(store, handle)
    assert row is not None
    return periods.reader(store, crypto.unwrap_with_passphrase(row.wrapped_keys, passphrase))


def send_reply(store: Store, settings: Settings, request_hex: str, text: str, handle: str = "alice",
               passphrase: str = PASSPHRASE) -> bool:
    """A reply from a coordinator account, signed and sealed as the request page sends it."""
    return conversation.add_reply(store, account_keys(store, handle, passphrase), handle, request_hex, text,
                                  secrets.token_urlsafe(16))
