"""The requester's side after the receipt: read replies, answer them, withdraw (erase) the request.

Everything starts from the codename the requester typed; nothing here sees
Flask. Answers are sealed to the coordinators (the same recipients a new
request is sealed to: intake.recipient_keys) and to the requester's own reply
key, so the requester can read the whole conversation back and nobody else
without a coordinator key can.

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
import time
from dataclasses import dataclass

import crypto
from crypto import CodenameKeys, KeyPair

from . import dates, groupcommit, intake
from .config import Settings
from .storage import RequestRow, Store

KIND_ANSWER = "answer"
UNKNOWN = "unknown"  # the category and area of a withdrawn request, which the server cannot read
EVENT_WITHDRAWN = "withdrawn"
CHECKPOINT_ATTEMPTS = 10


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


def _find(store: Store, settings: Settings, codename: str) -> tuple[RequestRow, CodenameKeys] | None:
    try:
        keys = crypto.derive_codename(codename, settings.codename_salt)
    except crypto.CodenameError:
        return None
    row = store.request_by_lookup(keys.lookup_hash)
    return (row, keys) if row is not None else None


def _open_text(envelope: bytes, record_id: bytes, kind: str, secret: bytes) -> str | None:
    try:
        return crypto.open_envelope(envelope, record_id, kind, secret).decode("utf-8")
    except (crypto.CryptoError, UnicodeDecodeError):
        return None


def for_requester(store: Store, settings: Settings, codename: str) -> Conversation | None:
    """Status and every reply and answer in order; None for a malformed, wrong or unknown codename alike."""
    found = _find(store, settings, codename)
    if found is None:
        return None
    row, keys = found
    replies = [_open_text(r.envelope, r.id, intake.KIND_REPLY, keys.reply_secret) for r in store.replies_for(row.id)]
    answers = [(after, _open_text(env, aid, KIND_ANSWER, keys.reply_secret))
               for aid, env, after in store.answers_for(row.id)]
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

    Raises intake.NotReady when there is no one to seal to, intake.ReplayedForm
    when this exact form was sent before. Durable on return (one commit).
    """
    found = _find(store, settings, codename)
    if found is None:
        return False
    row, keys = found
    answer_id = secrets.token_bytes(16)

    def write(tx: groupcommit.Tx, envelope: bytes) -> bool:
        if not store.use_form_nonce(tx, crypto.blake2b(form_nonce.encode("utf-8"), b"aidnet-form"), dates.today() + 2):
            raise intake.ReplayedForm
        if store.request_by_id(row.id) is None:  # withdrawn meanwhile
            return False
        store.insert_answer(tx, id=answer_id, request_id=row.id, envelope=envelope,
                            after_replies=len(store.replies_for(row.id)))
        return True

    return intake.sealed_write(store, lambda readers: crypto.seal(
        text.encode("utf-8"), answer_id, KIND_ANSWER, [*readers, keys.reply_public]), write)


def withdraw(store: Store, settings: Settings, codename: str) -> bool:
    """Erase the request at once (crypto-shredding) and count it as withdrawn; False if nothing matched."""
    found = _find(store, settings, codename)
    if found is None:
        return False
    row, _keys = found
    with store.write() as tx:
        erased = store.erase_request(tx, row.id)
        if erased:
            store.bump_counter(tx, dates.this_week(), UNKNOWN, UNKNOWN, EVENT_WITHDRAWN)
    # Fold the WAL into the database and truncate it: the deleted pages leave every file now.
    # A reader in another worker can hold it back for a moment; try a few times.
    for attempt in range(CHECKPOINT_ATTEMPTS):
        if store.checkpoint():
            break
        time.sleep(0.05 * (attempt + 1))
    return erased


def for_coordinator(store: Store, keys: KeyPair, request_id: str) -> list[CoordinatorAnswer]:
    """The requester's answers on a request, oldest first, opened with this coordinator's key."""
    try:
        raw = bytes.fromhex(request_id)
    except ValueError:
        return []
    return [CoordinatorAnswer(after, _open_text(env, aid, KIND_ANSWER, keys.box_secret))
            for aid, env, after in store.answers_for(raw)]
