"""WTForms' own messages, loaded once per language instead of once per request.

Flask-WTF reads wtforms' .mo catalogue from disk on every request that builds
a form (~0.6 ms, a tenth of a whole submission; bench/ measured it). The
catalogues never change while the server runs, so each is read once, and
forms ask for it (AidForm.Meta) only when they are built.
"""

from __future__ import annotations

import threading

from babel import support
from flask_babel import get_locale
from flask_wtf.i18n import messages_path

_cache: dict[str, support.Translations | support.NullTranslations] = {}
_lock = threading.Lock()


def translations() -> support.Translations | support.NullTranslations:
    """wtforms' messages in this request's language."""
    locale = str(get_locale() or "en")
    found = _cache.get(locale)
    if found is None:
        with _lock:
            found = _cache.get(locale) or support.Translations.load(messages_path(), [locale], domain="wtforms")
            _cache[locale] = found
    return found
