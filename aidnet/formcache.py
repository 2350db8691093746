"""WTForms' own messages, loaded once per language instead of once per request.

Flask-WTF reads wtforms' .mo catalogue from disk on every request that builds
a form (~0.6 ms, a tenth of a whole submission; bench/ measured it). The
catalogues never change while the server runs, so each is read once and
handed to Flask-WTF where it looks for it (request.wtforms_translations).
"""

from __future__ import annotations

from babel import support
from flask import Flask, request
from flask_babel import get_locale
from flask_wtf.i18n import messages_path


def install(app: Flask) -> None:
    cache: dict[str, support.Translations | support.NullTranslations] = {}

    def preload() -> None:
        locale = str(get_locale() or "en")
        translations = cache.get(locale)
        if translations is None:
            # A race only loads the same read-only catalogue twice.
            translations = cache[locale] = support.Translations.load(messages_path(), [locale], domain="wtforms")
        request.wtforms_translations = translations  # type: ignore[attr-defined]  # where Flask-WTF looks

    app.before_request(preload)
