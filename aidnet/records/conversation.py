"""The requester's side after the receipt: read replies, answer them, withdraw (erase) the request.

Everything starts from the codename the requester typed; nothing here sees
Flask. Replies are sealed to the requester's codename key. Answers are sealed
to the coordinators (the same readers a new request is sealed to) and to the
requester's own reply key, so the requester can read the whole conversation
back and nobody else without a coordinator key can.

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

from .. import dates
from ..config import Settings
from ..sealing.write import sealed_write
from ..store import Store, Tx, counters
from ..store import requests as request_rows
from .nonces import use_once
from .requests import find_by_codename, parse_id, row_for

KIND_REPLY = "reply"
KIND_ANSWER = "answer"
UNKNOWN = "unknown"  # the category and area of a withdrawn request, which the server cannot read
EVENT_WITHDRAWN = "withdrawn"


@dataclass(frozen=True, repr=False)
class Message:
    """One turn of the conversation, in clear only in memory for the page being shown."""

    from_requester: bool
    text: str

    def __repr__(self) -> str:  # never let personal content into a traceback
        return f"Message(from_requester={self.from_requester}, <sealed>)"


@dataclass(frozen=True)
class Conversation:
    status: str
    messages: list[Message]


@dataclass(frozen=True)
class CoordinatorAnswer:
    after_replies: int
    text: str | None  # None: not sealed to this coordinator's key


def _open_text(envelope: bytes, record_id: bytes, kind: str, secret: bytes) -> str | None:
    try:
        return crypto.open_envelope(envelope, record_id, kind, secret).decode("utf-8")
    except (crypto.CryptoError, UnicodeDecodeError):
        return None


def for_requester(store: Store, settings: Settings, codename: str) -> Conversation | None:
    """Status and every reply and answer in order; None for a malformed, wrong or unknown codename alike."""
    found = find_by_codename(store, settings, codename)
    if found is None:
        return None
    row, keys = found
    replies = [_open_text(r.envelope, r.id, KIND_REPLY, keys.reply_secret) for r in request_rows.replies_for(store, row.id)]
    answers = [(after, _open_text(env, aid, KIND_ANSWER, keys.reply_secret))
               for aid, env, after in request_rows.answers_for(store, row.id)]
    messages: list[Message] = []
    for index in range(len(replies) + 1):
        messages += [Message(True, text) for after, text in answers if after == index and text is not None]
        if index < len(replies) and replies[index] is not None:
            messages.append(Message(False, replies[index] or ""))
    # Answers written after replies that are gone (should not happen) still show, at the end.
    messages += [Message(True, text) for after, text in answers if after > len(replies) and text is not None]
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
        return True

    return sealed_write(store, lambda readers: crypto.seal(
        text.encode("utf-8"), answer_id, KIND_ANSWER, [*readers, keys.reply_public]), write)


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


def for_coordinator(store: Store, keys: KeyPair, request_hex: str) -> list[CoordinatorAnswer]:
    """The requester's answers on a request, oldest first, opened with this coordinator's key."""
    raw = parse_id(request_hex)
    if raw is None:
        return []
    return [CoordinatorAnswer(after, _open_text(env, aid, KIND_ANSWER, keys.box_secret))
            for aid, env, after in request_rows.answers_for(store, raw)]


def add_reply(store: Store, request_hex: str, text: str) -> bool:
    """Seal a reply to the requester's codename key alone; False if the request is gone."""
    row = row_for(store, request_hex)
    if row is None:
        return False
    reply_id = secrets.token_bytes(16)
    envelope = crypto.seal(text.encode("utf-8"), reply_id, KIND_REPLY, [row.reply_public])
    with store.write() as tx:
        request_rows.insert_reply(tx, id=reply_id, request_id=row.id, envelope=envelope)
    return True
