"""Domain refusals: a rule of aidnet said no, and the message says why to the person who asked.

Every layer below the web and the command line raises a `Refused` (or one of
its kinds) when it will not do what was asked: a replayed form, nobody to seal
to yet, a wrong passphrase, a decision that cannot take effect. The web maps
each kind to a page and a status; the CLI prints `str(exc)` on one line and
exits 1. A reason never carries personal content: it is shown and may be logged.

Other failures have their own base where they enter our code: `crypto.CryptoError`
(a key, an envelope or the log does not hold), `aidnet.store.StorageError`
(the disk or the database), `aidnet.config.ConfigError` (the instance folder).
"""

from __future__ import annotations


class Refused(Exception):
    """Base of every domain refusal; str() is the reason a person reads."""

    reason = "that cannot be done"

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or self.reason)


class NotReady(Refused):
    """Nobody is a reader yet (no genesis, or every term has ended): nothing can be sealed, so nothing is kept."""

    reason = "there is no coordinator to seal to yet"


class ReplayedForm(Refused):
    """This exact form was already sent once: what it carried is kept already, and only once."""

    reason = "this form was already sent"


class DecisionRefused(Refused):
    """A proposal, a signature or a genesis that cannot be accepted; the reason says why (decisions/)."""

    reason = "that decision cannot be made"
