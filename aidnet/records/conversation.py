"""The requester's side after the receipt: read replies, answer them, withdraw (erase) the request.

Everything starts from the codename the requester typed; nothing here sees
Flask. A reply is written by a current member who can read the request,
signed with their key (crypto.replies) and sealed to the requester's reply
key (from inside the sealed request) and to the current readers, so the
whole team sees it. An answer is sealed to the readers and to the
requester's own reply key. Both sides read the whole conversation back;
nobody else without a coordinator key can. Every envelope is bound to its
request (its parent): moved to another request it no longer opens.

Withdrawing is crypto-shredding: the request row (its envelope, which holds
the sealed content keys), its replies and its answers are deleted in one
commit, secure_delete zeroes the freed pages, and a WAL checkpoint folds and
truncates the log, so no copy of a sealed key stays in any file. The server
cannot read a request's category or area, so the withdrawal is counted with
category and area "unknown": the counters learn only that one request in
this week was withdrawn.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import crypto
from crypto import KeyPair
from crypto.replies import KIND_REPLY, read_payload, signed_payload

from .. import dates
from ..config import Settings
from ..errors import Refused
from ..sealing.readers import current
from ..sealing.write import sealed_write
from ..store import Store, Tx, counters
from ..store import requests as request_rows
from .nonces import use_once
from .requests import find_by_codename, open_row, parse_id, reply_key, row_for

KIND_ANSWER = "answer"
UNKNOWN = "unknown"  # the category and area of a withdrawn request, which the server cannot read
EVENT_WITHDRAWN = "withdrawn"


class NotAReader(Refused):
    """Only a current member who can read a request may reply to it."""

    reason = "only a current member who can read this request may reply to it"


@dataclass(frozen=True, repr=False)
class Message:
    """One turn of the conversation, in clear only in memory for the page being shown.

    A coordinator's reply says who wrote it and on which day; text is None where the reader's key
    does not open it, and proven is False for a reply whose signature or author does not hold.
    """

    from_requester: bool
    text: str | None
    handle: str = ""
    day: str = ""
    proven: bool = True

    def __repr__(self) -> str:  # never let personal content into a traceback
        return f"Message(from_requester={self.from_requester}, <sealed>)"


@dataclass(frozen=True)
class Conversation:
    status: str
    messages: list[Message]


def _open_text(envelope: bytes, record_id: bytes, kind: str, secret: bytes | crypto.Keyring, parent: bytes) -> str | None:
    try:
        return crypto.open_envelope(envelope, record_id, kind, secret, parent).decode("utf-8")
    except (crypto.CryptoError, UnicodeDecodeError):
        return None


def _reply(store: Store, request: bytes, reply_id: bytes, envelope: bytes, secret: bytes | crypto.Keyring,
           members: set[str]) -> Message:
    """A reply as a reader sees it: proven only if signed by its author, who is a current member."""
    try:
        payload = crypto.open_envelope(envelope, reply_id, KIND_REPLY, secret, request)
    except crypto.CryptoError:
        return Message(False, None, proven=False)
    signed = read_payload(payload, request, reply_id)
    if signed is None:
        return Message(False, None, proven=False)
    return Message(False, signed.text, signed.handle, dates.day_to_date(signed.day).isoformat(),
                   proven=signed.by in members)


def _thread(store: Store, request: bytes, secret: bytes | crypto.Keyring) -> list[Message]:
    """Replies and answers in the order they were written (an answer says how many replies it followed)."""
    members = set(current(store).members)
    replies = [_reply(store, request, r.id, r.envelope, secret, members) for r in request_rows.replies_for(store, request)]
    answers = [(after, Message(True, _open_text(env, aid, KIND_ANSWER, secret, request)))
               for aid, env, after in request_rows.answers_for(store, request)]
    messages: list[Message] = []
    for index in range(len(replies) + 1):
        messages += [m for after, m in answers if after == index]
        if index < len(replies):
            messages.append(replies[index])
    # Answers written after replies that are gone (should not happen) still show, at the end.
    return messages + [m for after, m in answers if after > len(replies)]


def for_requester(store: Store, settings: Settings, codename: str) -> Conversation | None:
    """Status and every reply and answer in order; None for a malformed, wrong or unknown codename alike.

    Only proven replies are shown: a reply whose signature does not hold, or whose author is not a
    current member, never reaches the requester as "The coordinators wrote".
    """
    found = find_by_codename(store, settings, codename)
    if found is None:
        return None
    row, keys = found
    messages = [m for m in _thread(store, row.id, keys.reply_secret)
                if m.text is not None and (m.from_requester or m.proven)]
    return Conversation(status=row.status, messages=messages)


def answer(store: Store, settings: Settings, codename: str, text: str, form_nonce: str) -> bool:
    """Seal an answer to the coordinators and the requester; False if the codename finds nothing.

    Raises NotReady when there is no one to seal to, ReplayedForm when this
    exact form was sent before. Durable on return (one commit).
    """
    found = find_by_codename(store, settings, codename)
    if found is None:
        return False
    row, keys = found
    answer_id = secrets.token_bytes(16)

    def write(tx: Tx, envelope: bytes) -> bool:
        use_once(tx, form_nonce)
        if request_rows.by_id(store, row.id) is None:  # withdrawn meanwhile
            return False
        request_rows.insert_answer(tx, id=answer_id, request_id=row.id, envelope=envelope,
                                   after_replies=len(request_rows.replies_for(store, row.id)))
        request_rows.set_awaiting(tx, row.id, False)  # the requester wrote last: the coordinators' turn
        return True

    return sealed_write(store, lambda to: to.seal(
        text.encode("utf-8"), answer_id, KIND_ANSWER, row.id, also=[keys.reply_public]), write)


def withdraw(store: Store, settings: Settings, codename: str) -> bool:
    """Erase the request at once (crypto-shredding) and count it as withdrawn; False if nothing matched."""
    found = find_by_codename(store, settings, codename)
    if found is None:
        return False
    row, _keys = found
    with store.write() as tx:
        erased = request_rows.erase_request(tx, row.id)
        if erased:
            counters.bump(tx, dates.this_week(), UNKNOWN, UNKNOWN, EVENT_WITHDRAWN)
    # Fold the WAL into the database and truncate it: the deleted pages leave every file now.
    store.checkpoint_soon()
    return erased


def for_coordinator(store: Store, keys: KeyPair, request_hex: str) -> list[Message]:
    """The whole conversation on a request, oldest first, opened with this coordinator's key."""
    raw = parse_id(request_hex)
    if raw is None:
        return []
    return _thread(store, raw, keys.opener())


def add_reply(store: Store, keys: KeyPair, handle: str, request_hex: str, text: str, form_nonce: str) -> bool:
    """Seal a reply, signed by its author, to the requester and the current readers; False if the request is gone.

    NotAReader unless these keys open the request and belong to a current member; ReplayedForm if this
    exact form was sent before (a reply posted twice is kept once).
    """
    row = row_for(store, request_hex)
    if row is None:
        return False
    opened = open_row(row, keys)
    requester = reply_key(row, opened.details) if opened.details else None
    if opened.details is None or requester is None or keys.sign_public.hex() not in current(store).members:
        raise NotAReader
    reply_id = secrets.token_bytes(16)
    payload = signed_payload(keys, handle, row.id, reply_id, text, dates.today())

    def write(tx: Tx, envelope: bytes) -> bool:
        use_once(tx, form_nonce)
        if request_rows.by_id(store, row.id) is None:  # withdrawn meanwhile
            return False
        request_rows.insert_reply(tx, id=reply_id, request_id=row.id, envelope=envelope)
        request_rows.set_awaiting(tx, row.id, True)  # waiting for the requester
        return True

    return sealed_write(store, lambda to: to.seal(payload, reply_id, KIND_REPLY, row.id, also=[requester]),
                        write)
