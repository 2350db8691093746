"""A group of keyholders with their keys in memory, founded with a quorum: the decision log's test bench."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import crypto
from aidnet.config import Settings
from aidnet.decisions import proposals
from aidnet.records.requests import KIND_REQUEST, RequestDetails, submit_request
from aidnet.sealing import periods
from aidnet.store import Store, open_store
from aidnet.store import decision_log as log_rows
from aidnet.store import requests as request_rows
from crypto.cards import make_card
from crypto.log import member_entry

from .instance import make_instance


def details(need: str = "tins of beans") -> RequestDetails:
    return RequestDetails("food", "north", need, "", "today")


def reader(store: Store, keys: crypto.KeyPair) -> crypto.Keyring:
    """What a member opens records with: their own key and every period secret sealed to it."""
    return periods.reader(store, keys).opener()


def opens(store: Store, keys: crypto.KeyPair, settings: Settings) -> bool:
    """Submit a new request and say whether keys can open it."""
    submit_request(store, settings, details(), secrets.token_hex(16))
    row = request_rows.page(store, 0, 1)[0]
    try:
        crypto.open_envelope(row.envelope, row.id, KIND_REQUEST, reader(store, keys))
    except crypto.CryptoError:
        return False
    return True


class Group:
    """A group of keyholders with keys in memory, founded with a quorum."""

    def __init__(self, tmp_path: Path, names: list[str], quorum: int, until: int | None = None) -> None:
        self.settings = make_instance(tmp_path / "instance")
        self.store = open_store(self.settings)
        self.store.migrate()
        self.keys = {n: crypto.generate_keypair() for n in names}
        self.genesis = proposals.make_genesis(self.store, [(n, self.keys[n]) for n in names], quorum, until)

    def card(self, name: str, keys: crypto.KeyPair, until: int | None = None) -> dict[str, Any]:
        """A member as a proposal carries it: the card its own keys signed, and a term."""
        return member_entry(make_card(name, keys), until)

    def propose(self, kind: str, body: dict[str, Any], by: str | None) -> tuple[dict[str, Any], bool]:
        """A new proposal, signed by `by` (None: unsigned, as a requester's dispute); (proposal, final)."""
        keys = self.keys[by] if by else None
        proposal = proposals.new_proposal(kind, body, keys)
        final = proposals.propose(self.store, self.settings, keys, proposal)
        return proposal, final

    def sign(self, pid: str, name: str) -> bool:
        return proposals.sign(self.store, self.settings, pid, self.keys[name])

    def decide(self, kind: str, body: dict[str, Any], signers: list[str]) -> str:
        proposal, _final = self.propose(kind, body, signers[0])
        for name in signers[1:]:
            self.sign(proposal["id"], name)
        return str(proposal["id"])

    def records(self) -> list[dict[str, Any]]:
        return log_rows.records(self.store)

    def close(self) -> None:
        self.store.close()
