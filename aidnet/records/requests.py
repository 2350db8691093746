"""Requests: sealed at the door, found again only by codename, read only by coordinators.

Nothing here sees Flask. The payload (category, area, need, contact, urgency)
exists in clear only in the memory of the call that seals or opens it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

import crypto
from crypto import KeyPair

from .. import dates
from ..config import Settings
from ..errors import Refused
from ..sealing.readers import current
from ..sealing.write import sealed_write
from ..store import Store, Tx, counters
from ..store import accounts as account_rows
from ..store import requests as request_rows
from ..store.requests import RequestRow
from .budget import IntakeBudget
from .nonces import use_once

KIND_REQUEST = "request"
STATUSES = ("new", "in_progress", "fulfilled", "closed")
URGENCIES = ("today", "this_week", "whenever")
CHANNELS = ("phone", "in_person", "paper")  # a request a coordinator typed in for someone
FINISHED = ("fulfilled", "closed")
# Marking as spam erases a request at once; only one nobody has decided on yet (an allocation is a quorum's).
SPAM_FROM = ("new", "in_progress")
EVENT_SPAM = "spam"
# Where a coordinator may move a request by hand, from each status. "allocated" is reached only by a signed
# allocation, and left by hand only to close the request (a hand-over, itself a decision, fulfils it): going
# back to "new" would undo a decision without one.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_progress", "fulfilled", "closed"),
    "in_progress": ("new", "fulfilled", "closed"),
    "allocated": ("closed",),
    "fulfilled": ("in_progress", "closed"),
    "closed": ("in_progress",),
}


class ForbiddenTransition(Refused):
    """The status asked for cannot follow the request's status now (see TRANSITIONS)."""

    reason = "a request cannot go from its status now to that one"


def next_statuses(status: str) -> tuple[str, ...]:
    """The statuses a request may be given by hand now, its own first (saving it unchanged changes nothing)."""
    return (status, *TRANSITIONS.get(status, ()))


@dataclass(frozen=True, repr=False)
class RequestDetails:
    category: str
    area: str
    need: str
    contact: str
    urgency: str
    for_someone_else: bool = False  # asked on behalf of another person (sealed like the rest)
    # The codename's reply key (hex): replies are sealed to it. It travels inside the sealed request, so a
    # database writer cannot swap it for their own; requests made before keep it in a clear column.
    reply_key: str = ""
    # The ISO week it came in ("" in requests made before): a request marked as spam is counted in it.
    week: str = ""
    # How it came when a coordinator typed it in for the person (CHANNELS); "" for the public form. Sealed.
    channel: str = ""

    def __repr__(self) -> str:  # never let personal content into a traceback
        return "RequestDetails(<sealed>)"

    def to_bytes(self) -> bytes:
        data = {"v": 1, "category": self.category, "area": self.area, "need": self.need,
                "contact": self.contact, "urgency": self.urgency, "for_someone_else": self.for_someone_else}
        if self.reply_key:
            data["reply_key"] = self.reply_key
        if self.week:
            data["week"] = self.week
        if self.channel:
            data["channel"] = self.channel
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> RequestDetails:
        data = json.loads(raw.decode("utf-8"))
        return cls(data["category"], data["area"], data["need"], data["contact"], data["urgency"],
                   bool(data.get("for_someone_else", False)), str(data.get("reply_key", "")),
                   str(data.get("week", "")), str(data.get("channel", "")))


@dataclass(frozen=True)
class OpenRequest:
    """A request as a coordinator sees it, decrypted for the page being shown."""

    id: str
    seq: int
    status: str
    expires: str
    details: RequestDetails | None  # None: not sealed to this coordinator's key
    handler: int | None = None  # the account handling it, if anyone said so
    awaiting: bool = False  # a coordinator wrote last: waiting for the requester


def submit_request(store: Store, settings: Settings, details: RequestDetails, form_nonce: str,
                   budget: IntakeBudget | None = None) -> str:
    """Seal and store a request; return its codename. Durable on return (one commit).

    Shares one durable commit with submissions arriving at the same moment
    (groupcommit). ReplayedForm if this form was sent before; NotReady if
    there is no one to seal to. The public form passes the server's budget: it
    counts the request in the minute's intake, budget.Busy (nothing kept) when spent.
    """
    if budget is not None:
        budget.check(settings, KIND_REQUEST)  # spent already: refused before any sealing work
    codename = crypto.generate_codename()
    keys = crypto.derive_codename(codename, settings.codename_salt)
    record_id = secrets.token_bytes(16)
    expires = dates.today() + settings.request_retention_days
    week = dates.this_week()
    payload = replace(details, reply_key=keys.reply_public.hex(), week=week).to_bytes()

    def write(tx: Tx, envelope: bytes) -> None:
        if budget is not None:
            budget.take(tx, settings, KIND_REQUEST)  # first: a refusal here has written nothing
        use_once(tx, form_nonce)
        request_rows.insert_request(tx, id=record_id, envelope=envelope, expires_day=expires,
                                    lookup_hash=keys.lookup_hash, reply_public=b"")
        counters.bump(tx, week, details.category, details.area, "received")

    sealed_write(store, lambda to: to.seal(payload, record_id, KIND_REQUEST), write, shared=True)
    return codename


def find_by_codename(store: Store, settings: Settings, codename: str) -> tuple[RequestRow, crypto.CodenameKeys] | None:
    """The request a codename opens, with the codename's keys; None for a malformed, wrong or unknown one alike."""
    try:
        keys = crypto.derive_codename(codename, settings.codename_salt)
    except crypto.CodenameError:
        return None
    row = request_rows.by_lookup(store, keys.lookup_hash)
    return (row, keys) if row is not None else None


def open_row(row: RequestRow, keys: KeyPair) -> OpenRequest:
    """A stored request opened with a coordinator's keys (details None where they cannot open it)."""
    try:
        details: RequestDetails | None = RequestDetails.from_bytes(
            crypto.open_envelope(row.envelope, row.id, KIND_REQUEST, keys.opener())
        )
    except (crypto.CryptoError, ValueError, KeyError):
        details = None
    return OpenRequest(id=row.id.hex(), seq=row.seq, status=row.status,
                       expires=dates.day_to_date(row.expires_day).isoformat(), details=details,
                       handler=row.handler, awaiting=row.awaiting)


def inbox_page(store: Store, keys: KeyPair, page: int, per_page: int = 20,
               only: request_rows.Filter | None = None) -> tuple[list[OpenRequest], bool]:
    """One page of the inbox, newest first, filtered on what is kept in clear; only these rows are decrypted."""
    rows = request_rows.page(store, max(page - 1, 0) * per_page, per_page + 1, only)
    return [open_row(r, keys) for r in rows[:per_page]], len(rows) > per_page


class NotYours(Refused):
    """Only a current member who can read a request may say who handles it, and only a member may handle it."""

    reason = "only a current member who can read this request may say who handles it"


def _active_signers(store: Store) -> set[str]:
    return {m.sign for m in current(store).active_members(dates.today())}


def handlers(store: Store) -> list[tuple[int, str]]:
    """The accounts that may handle a request (current members), as (account id, handle), in the order added."""
    active = _active_signers(store)
    return [(a.id, a.handle) for a in account_rows.all_accounts(store) if a.sign_public.hex() in active]


def set_handler(store: Store, keys: KeyPair, request_hex: str, handler: int | None) -> bool:
    """Say who handles a request (an account id; None: nobody); False if it is gone.

    NotYours unless these keys read the request and belong to a current member, and the handler is one too.
    """
    row = row_for(store, request_hex)
    if row is None:
        return False
    active = _active_signers(store)
    if open_row(row, keys).details is None or keys.sign_public.hex() not in active:
        raise NotYours
    if handler is not None and handler not in {id for id, _handle in handlers(store)}:
        raise NotYours("only a current member can handle a request")
    with store.write() as tx:
        return request_rows.set_handler(tx, row.id, handler)


def mark_spam(store: Store, keys: KeyPair, request_hexes: list[str]) -> int:
    """Close and erase these requests at once as spam (crypto-shredding), in one commit; how many went.

    Each is counted as "spam" under the week it came in, its category and its
    area, so the published "received" leaves it out (exports) and the number
    marked is itself published. NotYours unless these keys belong to a current
    member; a request these keys cannot open, or no longer new or in progress
    (an allocation is a quorum's decision), is left as it is.
    """
    if keys.sign_public.hex() not in _active_signers(store):
        raise NotYours("only a current member may mark requests as spam")
    picked = []
    for request_hex in dict.fromkeys(request_hexes):
        row = row_for(store, request_hex)
        opened = open_row(row, keys) if row is not None and row.status in SPAM_FROM else None
        if row is not None and opened is not None and opened.details is not None:
            picked.append((row.id, opened.details))
    erased = 0
    with store.write() as tx:
        for record_id, details in picked:
            if request_rows.erase_request_in(tx, record_id, SPAM_FROM):
                counters.bump(tx, details.week or dates.this_week(), details.category, details.area, EVENT_SPAM)
                erased += 1
    if erased:
        store.checkpoint_soon()  # the deleted pages leave the WAL too, as a withdrawal's do
    return erased


def parse_id(text: str) -> bytes | None:
    """A record id (16 bytes) as it travels in a URL, a form or a decision (hex); None if it cannot be one."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if len(raw) == 16 else None


def row_for(store: Store, request_hex: str) -> RequestRow | None:
    raw = parse_id(request_hex)
    return request_rows.by_id(store, raw) if raw is not None else None


def open_request(store: Store, keys: KeyPair, request_hex: str) -> OpenRequest | None:
    row = row_for(store, request_hex)
    return open_row(row, keys) if row else None


def reply_key(row: RequestRow, details: RequestDetails) -> bytes | None:
    """The requester's reply key: from inside the sealed request, or the clear column of a request made before."""
    if details.reply_key:
        try:
            key = bytes.fromhex(details.reply_key)
        except ValueError:
            return None
        return key if len(key) == 32 else None
    return row.reply_public if len(row.reply_public) == 32 else None


def requester_keys(store: Store, keys: KeyPair) -> Callable[[bytes, bytes], bytes | None]:
    """For a re-seal: each request's reply key, read from the request these keys open (cached per request)."""
    found: dict[bytes, bytes | None] = {}

    def lookup(request: bytes, _column: bytes) -> bytes | None:
        if request not in found:
            row = request_rows.by_id(store, request)
            opened = open_row(row, keys) if row else None
            found[request] = reply_key(row, opened.details) if row and opened and opened.details else None
        return found[request]
    return lookup


def carry_reply_key(table: str, payload: bytes, column: bytes) -> bytes:
    """At a re-seal, a request made before reply keys travelled inside takes its clear column's key in."""
    if table != "requests" or len(column) != 32:
        return payload
    try:
        details = RequestDetails.from_bytes(payload)
    except (ValueError, KeyError):
        return payload
    return payload if details.reply_key else replace(details, reply_key=column.hex()).to_bytes()


def change_status(store: Store, settings: Settings, keys: KeyPair, request_hex: str, status: str) -> bool:
    """Move a request to status and count it; False if unknown or unreadable by keys.

    ForbiddenTransition if status cannot follow the request's status now; the same status changes nothing.
    """
    if status not in STATUSES and status != "allocated":
        raise ValueError("unknown status")
    row = row_for(store, request_hex)
    if row is None:
        return False
    opened = open_row(row, keys)
    if opened.details is None:
        return False
    if row.status == status:
        return True
    if status not in TRANSITIONS.get(row.status, ()):
        raise ForbiddenTransition
    with store.write() as tx:
        if not request_rows.set_status_from(tx, row.id, row.status, status):
            raise ForbiddenTransition  # its status changed meanwhile: look again
        if status in ("new", "in_progress") and row.status in FINISHED:
            # Reopened: retention may have shortened its life when it was finished.
            request_rows.keep_at_least(tx, row.id, dates.today() + settings.request_retention_days)
        if status != "new" and request_rows.count_once(tx, row.id, status):
            counters.bump(tx, dates.this_week(), opened.details.category, opened.details.area, status)
    return True
