"""One form, one record: every public form carries a random nonce, and a nonce is taken once.

A person who presses "Send" twice, or a page reloaded after a slow answer,
must not file the same request twice. Only a keyed hash of the nonce is
kept, for two days.
"""

from __future__ import annotations

import crypto

from .. import dates
from ..errors import ReplayedForm
from ..store import Tx
from ..store import requests as request_rows

KEEP_DAYS = 2


def use_once(tx: Tx, form_nonce: str) -> None:
    """Record this form as sent inside the caller's write; ReplayedForm if it was sent before."""
    digest = crypto.blake2b(form_nonce.encode("utf-8"), b"aidnet-form")
    if not request_rows.use_form_nonce(tx, digest, dates.today() + KEEP_DAYS):
        raise ReplayedForm
