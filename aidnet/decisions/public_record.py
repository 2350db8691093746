"""What the public may read of the decision log: counts by month and type, the keyholders, the quorum,
the head and genesis hashes, and impact updates.

Read from the verified log only (records whose hash the verified state holds), never from the proposals
table: an impact update the server wrote, or one short of its quorum, is not in the log and not shown.

Nothing here names a person. Counts are per calendar month of the record's day, and only for months that
have ended, so watching the page day by day does not give the day of a decision. Decisions about one
request (allocations, hand-overs, disputes, resolutions) follow the releases' suppression rule: a month's
count from 1 to k-1 is withheld (None), with the one mark every withheld figure carries; no sum over
types or months is published, so no withheld count can be worked out from shown ones. Decisions about the
group itself (members, quorum, impact updates) are the keyholders' public acts and are shown exactly.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from crypto.log import LogState, digest_canonical, parse

from .. import dates
from ..store import Store
from ..store import decision_log as log_rows

# Decisions about one request: the privacy unit of the releases, so small counts are withheld.
REQUEST_TYPES = ("allocation", "distribution", "dispute", "resolution")
# Decisions about the group: who reads and signs, how many must sign, what the group tells the public.
KEYHOLDER_TYPES = frozenset({"add_member", "remove_member", "rotate_key", "renew_member", "set_quorum"})
COLUMNS = (*REQUEST_TYPES, "keyholders", "impact_update")


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM
    counts: dict[str, int | None]  # by COLUMNS; None: withheld (1 to k-1 decisions about requests)


@dataclass(frozen=True)
class ImpactUpdate:
    seq: int  # its place in the log
    day: dt.date
    texts: dict[str, str]  # language code -> text, as signed

    def text_in(self, language: str, fallback: str = "en") -> tuple[str, str]:
        """(language, text): the reader's language if given, else the fallback, else the first given."""
        for code in (language, fallback, *sorted(self.texts)):
            if code in self.texts:
                return code, self.texts[code]
        raise KeyError(language)  # an impact update always has at least one text (crypto.logschema)


@dataclass(frozen=True)
class PublicRecord:
    records: int
    genesis: str
    head: str
    keyholders: int  # active members today
    quorum: int
    months: list[Month]  # newest first, ended months only
    updates: list[ImpactUpdate]  # newest first


def verified_records(store: Store, state: LogState) -> list[dict[str, Any]]:
    """The stored records that are the ones this verified state holds (a row changed since is left out)."""
    stored = log_rows.stored_records(store, (), after=-1)
    return [parse(stored[seq]) for seq in sorted(stored) if seq <= state.seq and digest_canonical(stored[seq])
            in state.hashes]


def _month(day: int) -> str:
    return dates.day_to_date(day).strftime("%Y-%m")


def _column(kind: str) -> str | None:
    if kind in REQUEST_TYPES or kind == "impact_update":
        return kind
    return "keyholders" if kind in KEYHOLDER_TYPES else None


def monthly_counts(records: list[dict[str, Any]], k: int, today: int, months: int = 12) -> list[Month]:
    """Decisions per ended month and column, newest first, at most `months` of them; request types below k withheld."""
    this_month = _month(today)
    found: dict[str, dict[str, int]] = {}
    for record in records:
        month, column = _month(record["day"]), _column(record["proposal"]["type"])
        if month >= this_month or column is None:
            continue
        found.setdefault(month, dict.fromkeys(COLUMNS, 0))[column] += 1
    out = []
    for month in sorted(found, reverse=True)[:months]:
        counts: dict[str, int | None] = {c: (None if c in REQUEST_TYPES and 0 < n < k else n)
                                         for c, n in found[month].items()}
        out.append(Month(month, counts))
    return out


def impact_updates(records: list[dict[str, Any]]) -> list[ImpactUpdate]:
    """Every impact update in the log, newest first: final, so a quorum signed each."""
    return [ImpactUpdate(r["seq"], dates.day_to_date(r["day"]), dict(r["proposal"]["body"]["texts"]))
            for r in reversed(records) if r["proposal"]["type"] == "impact_update"]


# The last record made per database, by (head, day, k): the public page is read far more often than the log
# grows, and reading the whole log for every visitor would let anyone keep the server busy.
_made: dict[str, tuple[tuple[str, int, int], PublicRecord]] = {}
_made_lock = threading.Lock()


def public_record(store: Store, state: LogState, k: int, today: int | None = None) -> PublicRecord:
    """The public record of this verified state on this day; read again only when the head or the day moves."""
    day = dates.today() if today is None else today
    key, path = (state.head, day, k), str(store.path)
    with _made_lock:
        found = _made.get(path)
    if found is not None and found[0] == key:
        return found[1]
    made = _make(store, state, k, day)
    with _made_lock:
        _made[path] = (key, made)
    return made


def _make(store: Store, state: LogState, k: int, day: int) -> PublicRecord:
    records = verified_records(store, state)
    return PublicRecord(records=state.seq + 1, genesis=state.genesis, head=state.head,
                        keyholders=len(state.active_members(day)), quorum=state.quorum,
                        months=monthly_counts(records, k, day), updates=impact_updates(records))
