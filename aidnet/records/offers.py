"""Offers of goods, time, transport or money: sealed like requests, followed up by codename.

Stock and funds received are recorded by coordinators: details sealed here, and the
receipt itself a signed decision (aidnet.decisions.receipts) that counts them once final.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import crypto
from crypto import KeyPair

from .. import dates
from ..config import Settings
from ..sealing.write import sealed_write
from ..store import Store, Tx, counters
from ..store import offers as offer_rows
from .budget import IntakeBudget
from .nonces import use_once

KIND_OFFER = "offer"
KIND_STOCK = "stock"
OFFER_KINDS = ("goods", "time", "transport", "money")
STOCK_KINDS = ("goods", "money")


@dataclass(frozen=True, repr=False)
class OfferDetails:
    kind: str
    category: str
    area: str
    what: str
    contact: str

    def __repr__(self) -> str:
        return "OfferDetails(<sealed>)"

    def to_bytes(self) -> bytes:
        return json.dumps({"v": 1, "kind": self.kind, "category": self.category, "area": self.area,
                           "what": self.what, "contact": self.contact}, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> OfferDetails:
        d = json.loads(raw.decode("utf-8"))
        return cls(d["kind"], d["category"], d["area"], d["what"], d["contact"])


@dataclass(frozen=True)
class OpenOffer:
    id: str
    seq: int
    status: str
    details: OfferDetails | None


def submit_offer(store: Store, settings: Settings, details: OfferDetails, form_nonce: str,
                 budget: IntakeBudget | None = None) -> str:
    """Seal and store an offer; return its codename (durable on return).

    The public form passes the server's budget: counted in the minute's intake, budget.Busy (nothing kept) when spent.
    """
    if budget is not None:
        budget.check(settings, KIND_OFFER)
    codename = crypto.generate_codename()
    keys = crypto.derive_codename(codename, settings.codename_salt)
    record_id = secrets.token_bytes(16)

    def write(tx: Tx, envelope: bytes) -> None:
        if budget is not None:
            budget.take(tx, settings, KIND_OFFER)  # first: a refusal here has written nothing
        use_once(tx, form_nonce)
        offer_rows.insert_offer(tx, id=record_id, envelope=envelope,
                                expires_day=dates.today() + settings.request_retention_days,
                                lookup_hash=keys.lookup_hash, reply_public=keys.reply_public)
        counters.bump(tx, dates.this_week(), details.category, details.area, "offered")

    sealed_write(store, lambda to: to.seal(details.to_bytes(), record_id, KIND_OFFER), write)
    return codename


def _offer_for(store: Store, settings: Settings, codename: str) -> offer_rows.SealedRow | None:
    try:
        keys = crypto.derive_codename(codename, settings.codename_salt)
    except crypto.CodenameError:
        return None
    return offer_rows.offer_by_lookup(store, keys.lookup_hash)


def offer_status(store: Store, settings: Settings, codename: str) -> str | None:
    """The offer's status for its codename; None for wrong and unknown alike."""
    row = _offer_for(store, settings, codename)
    return row.status if row else None


def withdraw_offer(store: Store, settings: Settings, codename: str) -> bool:
    """Crypto-shred an offer at once (row gone, WAL checkpointed); False if the codename is unknown."""
    row = _offer_for(store, settings, codename)
    if row is None:
        return False
    with store.write() as tx:
        offer_rows.delete_offer(tx, row.id)
        counters.bump(tx, dates.this_week(), "-", "-", "offer_withdrawn")
    store.checkpoint_soon()
    return True


def _opened(row: offer_rows.SealedRow, keys: KeyPair) -> OpenOffer:
    try:
        details: OfferDetails | None = OfferDetails.from_bytes(
            crypto.open_envelope(row.envelope, row.id, KIND_OFFER, keys.opener()))
    except (crypto.CryptoError, ValueError, KeyError):
        details = None
    return OpenOffer(row.id.hex(), row.seq, row.status, details)


def open_offers(store: Store, keys: KeyPair) -> list[OpenOffer]:
    return [_opened(row, keys) for row in offer_rows.open_offers(store)]


def offer_by_id(store: Store, keys: KeyPair, offer_hex: str) -> OpenOffer | None:
    """One offer, open or not, opened with these keys; None if the id is not an offer's (or it is gone)."""
    try:
        row = offer_rows.offer_by_id(store, bytes.fromhex(offer_hex))
    except ValueError:
        return None
    return _opened(row, keys) if row else None


def best_matches(offers: list[OpenOffer], category: str | None, area: str | None) -> list[tuple[OpenOffer, int]]:
    """Offers with how well each fits a request (2: same category and area, 1: same category, 0: other), best
    first, newest first among equals; an offer this key cannot open comes last."""
    def fit(offer: OpenOffer) -> int:
        if offer.details is None or offer.details.category != category:
            return -1 if offer.details is None else 0
        return 2 if offer.details.area == area else 1
    scored = [(o, fit(o)) for o in offers]
    return sorted(scored, key=lambda pair: (-pair[1], -pair[0].seq))


@dataclass(frozen=True, repr=False)
class StockEntry:
    """Goods or money recorded as received, opened for a coordinator (what the note says stays sealed at rest)."""

    seq: int
    kind: str
    category: str
    amount: int
    note: str
    receipt: str = ""  # the receipt decision's id; "" for one recorded before receipts were signed

    def __repr__(self) -> str:
        return "StockEntry(<sealed>)"


def _stock_entry(row: offer_rows.SealedRow, keys: KeyPair) -> StockEntry | None:
    try:
        d = json.loads(crypto.open_envelope(row.envelope, row.id, KIND_STOCK, keys.opener()).decode("utf-8"))
        return StockEntry(row.seq, str(d["kind"]), str(d["category"]), int(d["amount"]), str(d["note"]), row.status)
    except (crypto.CryptoError, ValueError, KeyError, TypeError):
        return None


def stock_received(store: Store, keys: KeyPair, limit: int = 200) -> list[StockEntry | None]:
    """The newest stock and money received, opened with these keys (None where they cannot open one)."""
    return [_stock_entry(row, keys) for row in offer_rows.stock_rows(store, limit)]


def stock_entry(store: Store, keys: KeyPair, seq: int) -> StockEntry | None:
    """One stock row opened with these keys; None if there is none or they cannot open it."""
    row = offer_rows.stock_row(store, seq)
    return _stock_entry(row, keys) if row else None


def stock_totals(entries: list[StockEntry | None]) -> dict[tuple[str, str], int]:
    """Received amounts summed by (kind, category), from the entries given."""
    totals: dict[tuple[str, str], int] = {}
    for e in entries:
        if e is not None:
            totals[(e.kind, e.category)] = totals.get((e.kind, e.category), 0) + e.amount
    return totals


def record_stock(store: Store, settings: Settings, kind: str, category: str, amount: int, note: str,
                 receipt: str | None = None) -> None:
    """Goods or money received, sealed, beside its receipt decision (which alone makes it count)."""
    if kind not in STOCK_KINDS:
        raise ValueError("unknown stock kind")
    record_id = secrets.token_bytes(16)
    payload = json.dumps({"v": 1, "kind": kind, "category": category, "amount": amount, "note": note},
                         ensure_ascii=False).encode("utf-8")

    def write(tx: Tx, envelope: bytes) -> None:
        offer_rows.insert_stock(tx, id=record_id, envelope=envelope,
                                expires_day=dates.today() + settings.request_retention_days, receipt=receipt)

    sealed_write(store, lambda to: to.seal(payload, record_id, KIND_STOCK), write)
