"""Requests: sealed at the door, found again only by codename, read only by coordinators.

Nothing here sees Flask. The payload (category, area, need, contact, urgency)
exists in clear only in the memory of the call that seals or opens it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import crypto
from crypto import KeyPair

from . import dates, groupcommit
from .config import Settings, settings_beside
from .storage import RequestRow, Store

KIND_REQUEST = "request"
KIND_REPLY = "reply"
STATUSES = ("new", "in_progress", "fulfilled", "closed")
URGENCIES = ("today", "this_week", "whenever")


class NotReady(Exception):
    """There is no coordinator to seal to yet."""


class ReplayedForm(Exception):
    """This exact form was already sent once."""


@dataclass(frozen=True, repr=False)
class RequestDetails:
    category: str
    area: str
    need: str
    contact: str
    urgency: str
    for_someone_else: bool = False  # asked on behalf of another person (sealed like the rest)

    def __repr__(self) -> str:  # never let personal content into a traceback
        return "RequestDetails(<sealed>)"

    def to_bytes(self) -> bytes:
        data = {"v": 1, "category": self.category, "area": self.area, "need": self.need,
                "contact": self.contact, "urgency": self.urgency, "for_someone_else": self.for_someone_else}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> RequestDetails:
        data = json.loads(raw.decode("utf-8"))
        return cls(data["category"], data["area"], data["need"], data["contact"], data["urgency"],
                   bool(data.get("for_someone_else", False)))


@dataclass(frozen=True)
class OpenRequest:
    """A request as a coordinator sees it, decrypted for the page being shown."""

    id: str
    seq: int
    status: str
    expires: str
    details: RequestDetails | None  # None: not sealed to this coordinator's key


@dataclass(frozen=True)
class RequesterView:
    status: str
    replies: list[str]


def _form_hash(nonce: str) -> bytes:
    return crypto.blake2b(nonce.encode("utf-8"), b"aidnet-form")


def recipient_keys(store: Store) -> list[bytes]:
    """The X25519 keys new records are sealed to. Sealing paths read them with readers()
    (sealed_write, submit_request), which also check at commit that they did not change.

    They come from the verified decision log (the active members today), never
    from the coordinators table: a row inserted there gains no reader.
    """
    return readers(store)[0]


Seen = tuple[int, str, int]  # the log's length and head hash, and the day, that readers were read at


def readers(store: Store, recheck: bool = True) -> tuple[list[bytes], Seen]:
    """recipient_keys(), and what they were read at (see readers_unchanged)."""
    from . import governance

    return governance.readers(store, recheck)


def readers_unchanged(tx: groupcommit.Tx, seen: Seen) -> bool:
    """Inside a write: the log and the day are still those the readers were read at.

    A decision landing (another worker's, or a log swapped for one as long),
    or midnight ending someone's term, means a record sealed meanwhile went to
    the wrong readers: the caller seals again.
    """
    from . import logstore

    return (*logstore.log_head(tx), dates.today()) == seen


S = TypeVar("S")
R = TypeVar("R")


def sealed_write(store: Store, seal: Callable[[list[bytes]], S], write: Callable[[groupcommit.Tx, S], R]) -> R:
    """Seal to today's readers, then write it in one transaction in which they still are the readers.

    Every record sealed to the coordinators goes through here (requests through
    submit_request, which shares commits): seal(readers) makes the envelope,
    write(tx, envelope) stores it. If the readers changed in between, it seals
    again. NotReady when there is no one to seal to; ReadersChanged if they
    keep changing.
    """
    for _attempt in range(3):
        recipients, seen = readers(store)
        if not recipients:
            raise NotReady
        sealed = seal(recipients)
        try:
            with store.write() as tx:
                if not readers_unchanged(tx, seen):
                    raise ReadersChanged
                return write(tx, sealed)
        except ReadersChanged:
            continue
    raise ReadersChanged


def submit_request(store: Store, settings: Settings, details: RequestDetails, form_nonce: str) -> str:
    """Seal and store a request; return its codename. Durable on return (one commit)."""
    codename = crypto.generate_codename()
    keys = crypto.derive_codename(codename, settings.codename_salt)
    record_id = secrets.token_bytes(16)
    expires = dates.today() + settings.request_retention_days
    for attempt in range(3):
        # The first try may seal to the readers this process verified a moment ago
        # without reading the log again: the commit checks the log did not move since.
        recipients, seen = readers(store, recheck=attempt > 0)
        if not recipients:
            if attempt == 0:
                continue  # perhaps renewed by another process a moment ago: read the log itself
            raise NotReady
        envelope = crypto.seal(details.to_bytes(), record_id, KIND_REQUEST, recipients)
        try:
            _commit_request(store, details, form_nonce, record_id, envelope, expires, keys, seen)
        except ReadersChanged:
            continue  # a membership decision landed while sealing: seal again to the new readers
        return codename
    raise ReadersChanged


class ReadersChanged(Exception):
    """The readers changed between sealing and committing (a decision, or midnight): seal again."""


def _commit_request(store: Store, details: RequestDetails, form_nonce: str, record_id: bytes, envelope: bytes,
                    expires: int, keys: crypto.CodenameKeys, seen: Seen) -> None:
    def write(tx: groupcommit.Tx) -> None:
        if not readers_unchanged(tx, seen):
            raise ReadersChanged
        if not store.use_form_nonce(tx, _form_hash(form_nonce), dates.today() + 2):
            raise ReplayedForm
        store.insert_request(tx, id=record_id, envelope=envelope, expires_day=expires,
                             lookup_hash=keys.lookup_hash, reply_public=keys.reply_public)
        store.bump_counter(tx, dates.this_week(), details.category, details.area, "received")

    # Shares one durable commit with submissions arriving at the same moment (groupcommit).
    groupcommit.run(store, write)


def request_for_codename(store: Store, settings: Settings, codename: str) -> RequestRow | None:
    """The request a codename opens; None for a malformed, wrong or unknown one alike."""
    try:
        keys = crypto.derive_codename(codename, settings.codename_salt)
    except crypto.CodenameError:
        return None
    return store.request_by_lookup(keys.lookup_hash)


def requester_view(store: Store, settings: Settings, codename: str) -> RequesterView | None:
    """Status and replies for a codename; None for a malformed, wrong or unknown one alike."""
    row = request_for_codename(store, settings, codename)
    if row is None:
        return None
    keys = crypto.derive_codename(codename, settings.codename_salt)
    replies = []
    for reply in store.replies_for(row.id):
        try:
            replies.append(crypto.open_envelope(reply.envelope, reply.id, KIND_REPLY, keys.reply_secret).decode())
        except crypto.CryptoError:
            continue
    return RequesterView(status=row.status, replies=replies)


def _open(row: RequestRow, keys: KeyPair) -> OpenRequest:
    try:
        details: RequestDetails | None = RequestDetails.from_bytes(
            crypto.open_envelope(row.envelope, row.id, KIND_REQUEST, keys.box_secret)
        )
    except (crypto.CryptoError, ValueError, KeyError):
        details = None
    return OpenRequest(id=row.id.hex(), seq=row.seq, status=row.status,
                       expires=dates.day_to_date(row.expires_day).isoformat(), details=details)


def inbox_page(store: Store, keys: KeyPair, page: int, per_page: int = 20) -> tuple[list[OpenRequest], bool]:
    """One page of the inbox, newest first; only these rows are decrypted."""
    rows = store.requests_page(max(page - 1, 0) * per_page, per_page + 1)
    return [_open(r, keys) for r in rows[:per_page]], len(rows) > per_page


def _row(store: Store, request_id: str) -> RequestRow | None:
    try:
        raw = bytes.fromhex(request_id)
    except ValueError:
        return None
    return store.request_by_id(raw) if len(raw) == 16 else None


def open_request(store: Store, keys: KeyPair, request_id: str) -> OpenRequest | None:
    row = _row(store, request_id)
    return _open(row, keys) if row else None


def change_status(store: Store, keys: KeyPair, request_id: str, status: str) -> bool:
    """Move a request to status and count it; False if unknown or unreadable by keys."""
    if status not in STATUSES:
        raise ValueError("unknown status")
    row = _row(store, request_id)
    if row is None:
        return False
    opened = _open(row, keys)
    if opened.details is None:
        return False
    if row.status == status:
        return True
    with store.write() as tx:
        store.set_status(tx, row.id, status)
        if status in ("new", "in_progress") and row.status in ("fulfilled", "closed"):
            # Reopened: retention may have shortened its life when it was finished.
            found = settings_beside(store.path)
            store.keep_at_least(tx, row.id, dates.today() + (found.request_retention_days if found else 90))
        if status != "new" and store.count_once(tx, row.id, status):
            store.bump_counter(tx, dates.this_week(), opened.details.category, opened.details.area, status)
    return True



def add_reply(store: Store, request_id: str, text: str) -> bool:
    """Seal a reply to the requester's codename key alone; False if the request is gone."""
    row = _row(store, request_id)
    if row is None:
        return False
    reply_id = secrets.token_bytes(16)
    envelope = crypto.seal(text.encode("utf-8"), reply_id, KIND_REPLY, [row.reply_public])
    with store.write() as tx:
        store.insert_reply(tx, id=reply_id, request_id=row.id, envelope=envelope)
    return True
