"""The requester's verdict on the help: did it arrive, was it what they needed, and a comment if they like.

A requester may give one once their request is fulfilled (a hand-over, or a
coordinator marking it so), with the codename, once: a second is refused
(VerdictGiven), so a request moves each verdict count by at most one over its
whole life, in one week. The answers and the comment are sealed to the
readers at the door (sealed_write), bound to the request: only its keyholders
read them, and the verdict goes when the request does (erasure, retention).
In clear the database learns only that this request has a verdict, and the
week's aggregate counters learn the answers (category = the answer, area
"all", events VERDICT_EVENTS): the releases publish those with noise, and the
coordinators' pages read them for the share of "no" per month.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

import crypto
from crypto import KeyPair

from .. import dates
from ..config import Settings
from ..errors import Refused
from ..sealing.write import sealed_write
from ..store import Store, Tx, counters
from ..store import requests as request_rows
from ..store import verdicts as verdict_rows
from .nonces import use_once
from .requests import find_by_codename, parse_id

KIND_VERDICT = "verdict"
ANSWERS = ("yes", "partly", "no")
QUESTIONS = ("received", "needed")
VERDICT_EVENTS = {"received": "verdict_received", "needed": "verdict_needed"}
COLUMN = "all"  # the counters' area for a verdict: it is counted over every area, never by one


class NotYet(Refused):
    """A verdict is asked for only once the request is fulfilled (handed over, or marked fulfilled)."""

    reason = "a verdict can be given once the help has been handed over"


class VerdictGiven(Refused):
    """One verdict per request: the first is kept, a second is refused."""

    reason = "this request already has a verdict"


@dataclass(frozen=True, repr=False)
class Verdict:
    """A verdict in clear, only in the memory of the call that seals or opens it."""

    received: str
    needed: str
    comment: str = ""

    def __repr__(self) -> str:  # never let personal content into a traceback
        return "Verdict(<sealed>)"

    def to_bytes(self) -> bytes:
        return json.dumps({"v": 1, "received": self.received, "needed": self.needed, "comment": self.comment},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Verdict:
        data = json.loads(raw.decode("utf-8"))
        return cls(str(data["received"]), str(data["needed"]), str(data.get("comment", "")))


def may_give(store: Store, request: bytes, status: str) -> bool:
    """Whether the request is fulfilled now or was once (a hand-over, or a coordinator's "fulfilled")."""
    return status == "fulfilled" or request_rows.was_counted(store, request, "fulfilled")


@dataclass(frozen=True)
class VerdictState:
    asked: bool  # the status page asks for a verdict
    given: bool  # one was given already (the page thanks them instead)


def state_for(store: Store, settings: Settings, codename: str) -> VerdictState | None:
    """What the status page shows of the verdict; None for a wrong or unknown codename."""
    found = find_by_codename(store, settings, codename)
    if found is None:
        return None
    row, _keys = found
    given = verdict_rows.verdict_for(store, row.id) is not None
    return VerdictState(asked=not given and may_give(store, row.id, row.status), given=given)


def give(store: Store, settings: Settings, codename: str, verdict: Verdict, form_nonce: str) -> bool:
    """Seal the verdict to the readers and count its answers, in one commit; False if the codename finds nothing.

    NotYet before the request is fulfilled, VerdictGiven if it has one, ReplayedForm for a form sent
    twice, NotReady when there is no one to seal to. Durable on return.
    """
    if verdict.received not in ANSWERS or verdict.needed not in ANSWERS:
        raise ValueError("an answer is yes, partly or no")
    found = find_by_codename(store, settings, codename)
    if found is None:
        return False
    row, _keys = found
    if not may_give(store, row.id, row.status):
        raise NotYet
    if verdict_rows.verdict_for(store, row.id) is not None:
        raise VerdictGiven
    verdict_id = secrets.token_bytes(16)

    def write(tx: Tx, envelope: bytes) -> bool:
        use_once(tx, form_nonce)
        if request_rows.by_id(store, row.id) is None:  # withdrawn meanwhile
            return False
        if not verdict_rows.insert_verdict(tx, request_id=row.id, id=verdict_id, envelope=envelope):
            raise VerdictGiven  # another tab got there first: nothing of this one is kept
        week = dates.this_week()
        counters.bump(tx, week, verdict.received, COLUMN, VERDICT_EVENTS["received"])
        counters.bump(tx, week, verdict.needed, COLUMN, VERDICT_EVENTS["needed"])
        return True

    return sealed_write(store, lambda to: to.seal(verdict.to_bytes(), verdict_id, KIND_VERDICT, row.id), write)


@dataclass(frozen=True)
class Shown:
    """A request's verdict on its coordinator's page: verdict None where these keys do not open it."""

    verdict: Verdict | None


def for_coordinator(store: Store, keys: KeyPair, request_hex: str) -> Shown | None:
    """The request's verdict opened with this keyholder's keys; None if it has none."""
    request = parse_id(request_hex)
    found = verdict_rows.verdict_for(store, request) if request is not None else None
    if request is None or found is None:
        return None
    verdict_id, envelope = found
    try:
        return Shown(Verdict.from_bytes(crypto.open_envelope(envelope, verdict_id, KIND_VERDICT, keys.opener(),
                                                             request)))
    except (crypto.CryptoError, ValueError, KeyError, UnicodeDecodeError):
        return Shown(None)


@dataclass(frozen=True)
class Month:
    """One month of verdicts, from the weekly counters (exact: for the coordinators, never published so)."""

    month: str  # YYYY-MM: the month of each week's Thursday, as the releases count it
    answers: int  # verdicts given
    received_no: int
    needed_no: int


def month_of(week: str) -> str:
    year, number = week.split("-W")
    return dt.date.fromisocalendar(int(year), int(number), 4).strftime("%Y-%m")


def by_month(store: Store, months: int = 12) -> list[Month]:
    """The newest months that have verdicts, newest first: how many, and how many said "no" to each question."""
    found: dict[str, dict[str, int]] = {}
    for week, answer, _area, event, count in counters.counters_of(store, tuple(VERDICT_EVENTS.values())):
        month = found.setdefault(month_of(week), {"answers": 0, "received_no": 0, "needed_no": 0})
        if event == VERDICT_EVENTS["received"]:
            month["answers"] += count
        if answer == "no":
            month["received_no" if event == VERDICT_EVENTS["received"] else "needed_no"] += count
    return [Month(m, **found[m]) for m in sorted(found, reverse=True)[:months]]
