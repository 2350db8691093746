"""Real instance folders with a real SQLCipher file, Argon2 made cheap through config (never in the code)."""

from __future__ import annotations

from pathlib import Path

from aidnet.config import Settings, create_instance, load_settings
from aidnet.decisions.proposals import genesis_from_accounts, has_genesis
from aidnet.records import coordinators
from aidnet.store import open_store

PASSPHRASE = "correct horse battery staple"
FAST_ARGON2 = "[argon2]\ntime_cost = 1\nmemory_kib = 8192\nparallelism = 1\n"


def make_instance(path: Path) -> Settings:
    """A fresh instance whose Argon2 cost is lowered in its config (never in the code)."""
    create_instance(path)
    config = path / "config.toml"
    text = config.read_text()
    text = text[: text.index("[argon2]")] + FAST_ARGON2
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
