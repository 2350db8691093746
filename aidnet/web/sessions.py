"""Flask's signed-cookie session, the same on the wire, with less work per request.

Flask builds a new signing serializer for every request (and itsdangerous
signs an empty dict each time to see what kind of serializer it has), and
its lazy sha1 wrapper sends every HMAC down Python's slow pure-Python path.
Together that was ~5% of the server's work for a submission (bench/). Here
the serializer is made once per key and HMAC-SHA1 goes to OpenSSL directly;
cookies, signatures and expiry are exactly Flask's.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

_EXTENSION = "aidnet.session_serializer"


class CookieSessions(SecureCookieSessionInterface):
    digest_method = staticmethod(hashlib.sha1)  # the OpenSSL function itself: hmac's fast path

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (self, app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached: tuple[Any, URLSafeTimedSerializer | None] | None = app.extensions.get(_EXTENSION)
        if cached is None or cached[0] != keys:  # first use, or another interface or key; a race makes it twice
            cached = (keys, super().get_signing_serializer(app))
            app.extensions[_EXTENSION] = cached
        return cached[1]
