"""Retention, export and intake policy, read from the instance config's [retention], [export], [intake]
and [question] tables.

The policy lives in config.toml, which only the operator can change. Every key
has a default, so an instance folder made before these tables existed still loads.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

# Below 5, a "small" cell is small enough to point at one household.
MIN_K = 5


@dataclass(frozen=True)
class Policy:
    closed_days: int = 30
    withdrawn_days: int = 0
    max_extension_days: int = 180
    # An offline bundle (every sealed record, still sealed) is read by the keyholder tool for this many days.
    bundle_days: int = 14
    k: int = 10
    noise: bool = True
    epsilon: Fraction = Fraction(1, 2)
    week_budget: Fraction = Fraction(1)
    money_clip: int = 50000
    # Money tables (magnitude tables): a cell is shown exactly only with at least min_contributors
    # contributors and when no contributor can estimate the largest within dominance_p percent (the p% rule).
    min_contributors: int = 3
    dominance_p: int = 10

    def movement_cents(self, units: int) -> int:
        """Forms take whole units; counters keep cents, each movement clipped so one gift or
        payment moves a published total by at most money_clip (the noise is scaled to it)."""
        return min(units * 100, self.money_clip)


def _fraction(value: Any, what: str) -> Fraction:
    if isinstance(value, bool):
        raise ValueError(f"[export] {what} must be a number like \"1/2\"")
    try:
        # str() first: a TOML float 0.5 becomes the exact fraction 1/2, never a binary float.
        return Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"[export] {what} must be a number like \"1/2\"") from None


def _int(table: dict[str, Any], key: str, default: int, low: int, high: int, section: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"[{section}] {key} must be a whole number from {low} to {high}")
    return value


def parse_policy(config: dict[str, Any]) -> Policy:
    """The policy from a parsed config.toml; ValueError with a one-line reason if it is unusable."""
    retention = config.get("retention", {})
    export = config.get("export", {})
    if not isinstance(retention, dict) or not isinstance(export, dict):
        raise ValueError("[retention] and [export] must be tables")
    defaults = Policy()
    epsilon = _fraction(export.get("epsilon", defaults.epsilon), "epsilon")
    budget = _fraction(export.get("week_budget", defaults.week_budget), "week_budget")
    if not 0 < epsilon <= 10 or budget < epsilon:
        raise ValueError("[export] epsilon must be in (0, 10] and week_budget at least epsilon")
    noise = export.get("noise", True)
    if not isinstance(noise, bool):
        raise ValueError("[export] noise must be true or false")
    return Policy(
        closed_days=_int(retention, "closed_days", defaults.closed_days, 0, 3650, "retention"),
        withdrawn_days=_int(retention, "withdrawn_days", defaults.withdrawn_days, 0, 3650, "retention"),
        max_extension_days=_int(retention, "max_extension_days", defaults.max_extension_days, 1, 3650, "retention"),
        bundle_days=_int(retention, "bundle_days", defaults.bundle_days, 1, 365, "retention"),
        k=_int(export, "k", defaults.k, MIN_K, 1000, "export"),
        noise=noise,
        epsilon=epsilon,
        week_budget=budget,
        money_clip=_int(export, "money_clip", defaults.money_clip, 1, 10**12, "export"),
        min_contributors=_int(export, "min_contributors", defaults.min_contributors, 3, 1000, "export"),
        dominance_p=_int(export, "dominance_p", defaults.dominance_p, 1, 100, "export"),
    )


# How many public submissions the whole site takes a minute, unless config.toml's [intake] says otherwise.
REQUESTS_PER_MINUTE = 30
OFFERS_PER_MINUTE = 10
ANSWER_MAX = 100  # characters of an answer to the group's question, as typed


def normalize_answer(text: str) -> str:
    """An answer as compared: NFKC, case-folded, spaces trimmed and runs of them made one."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _answer_digest(text: str) -> bytes:
    # Compared as fixed-length digests, so a comparison takes the same time whatever the length typed.
    return hashlib.blake2b(normalize_answer(text).encode("utf-8"), digest_size=32, person=b"aidnet-answer").digest()


@dataclass(frozen=True, repr=False)
class Intake:
    """The public forms' limits: a budget a minute for all senders together, and the group's own question."""

    requests_per_minute: int = REQUESTS_PER_MINUTE
    offers_per_minute: int = OFFERS_PER_MINUTE
    # The question by language ({} when the group set none), and the accepted answers' digests.
    question: dict[str, str] = field(default_factory=dict)
    answers: tuple[bytes, ...] = ()

    def __repr__(self) -> str:  # the accepted answers are the group's secret: never in a log or a traceback
        return f"Intake({self.requests_per_minute}/min, {self.offers_per_minute}/min, question={bool(self.question)})"

    def per_minute(self, kind: str) -> int:
        return self.requests_per_minute if kind == "request" else self.offers_per_minute

    def question_in(self, language: str) -> str | None:
        """The question in this language (in English, else the first one set, where it has none); None: no question."""
        if not self.question:
            return None
        return self.question.get(language) or self.question.get("en") or next(iter(self.question.values()))

    def answer_ok(self, typed: str) -> bool:
        """Whether typed is one of the accepted answers (in any language), compared in constant time.

        Every accepted answer is compared, each as a digest of the same length: the time taken says
        neither which answer nor how much of one was right.
        """
        digest = _answer_digest(typed)
        ok = False
        for accepted in self.answers:
            ok |= hmac.compare_digest(digest, accepted)
        return ok and bool(self.answers)


def parse_intake(config: dict[str, Any]) -> Intake:
    """[intake] and [question] from a parsed config.toml; ValueError with a one-line reason if unusable.

    [question] holds one table per language: `en = { ask = "...", answers = ["...", "..."] }`.
    """
    intake = config.get("intake", {})
    if not isinstance(intake, dict):
        raise ValueError("[intake] must be a table")
    requests = _int(intake, "requests_per_minute", REQUESTS_PER_MINUTE, 1, 100000, "intake")
    offers = _int(intake, "offers_per_minute", OFFERS_PER_MINUTE, 1, 100000, "intake")
    table = config.get("question", {})
    if not isinstance(table, dict):
        raise ValueError("[question] must be a table of languages")
    question: dict[str, str] = {}
    answers: list[bytes] = []
    for code, entry in table.items():
        if not (code.isascii() and code.replace("_", "").isalpha()) or not isinstance(entry, dict):
            raise ValueError(f"[question] {code} must be a language code with a table: "
                             "{ ask = \"...\", answers = [\"...\"] }")
        ask, accepted = entry.get("ask"), entry.get("answers")
        if (not isinstance(ask, str) or not ask.strip() or len(ask) > 300 or not isinstance(accepted, list)
                or not accepted or not all(isinstance(a, str) and 0 < len(normalize_answer(a)) <= ANSWER_MAX
                                           for a in accepted)):
            raise ValueError(f"[question] {code} needs ask (a question, up to 300 characters) and answers "
                             f"(a list of one or more answers, each up to {ANSWER_MAX} characters)")
        question[code] = ask.strip()
        answers += [_answer_digest(a) for a in accepted]
    return Intake(requests, offers, question, tuple(dict.fromkeys(answers)))
