"""Headers on every response, error pages, and logs that carry no personal data."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote

from flask import Flask, Response, g, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ..sealing.readers import NoGenesis
from ..sealing.write import ReadersChanged
from ..store import StorageError
from .pages import message

CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        "microphone=(), payment=(), usb=(), interest-cohort=(), browsing-topics=()"
    ),
}

log = logging.getLogger("aidnet")


class SecurityHeaders:
    """WSGI middleware: the headers above on every response, whatever produced it.

    Built once (the stylesheet's hash is known when the app is made) and joined
    to the list the server sends; werkzeug's per-header checks for each of eight
    headers on every response were ~2% of a submission's work (bench/).
    """

    def __init__(self, app: Callable[..., Any], style_hash: str | None) -> None:
        self.app = app
        csp = CSP.replace("style-src 'self'", f"style-src 'self' {style_hash}") if style_hash else CSP
        common = list({**SECURITY_HEADERS, "Content-Security-Policy": csp}.items())
        # Pages may show personal content: never cache them anywhere. Static files are the same for all,
        # and are no page: their CSP needs no stylesheet hashes (it forbids scripts all the same).
        self.page = [*common, ("Cache-Control", "no-store")]
        self.static = [*{**SECURITY_HEADERS, "Content-Security-Policy": CSP}.items(),
                       ("Cache-Control", "public, max-age=86400")]
        self.replaced = {name.lower() for name, _ in self.page}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # The path as the app saw it: /es/static/style.css is /static/style.css by now (i18n).
            static = environ.get("PATH_INFO", "").startswith("/static/")
            kept = [h for h in headers if h[0].lower() not in self.replaced]
            return start_response(status, kept + (self.static if static else self.page), exc_info)

        return self.app(environ, start)


def check_encoding() -> None:
    """Mark a form body that is not valid UTF-8, so the form can say so and re-render."""
    g.bad_encoding = False
    if request.method != "POST" or request.mimetype != "application/x-www-form-urlencoded":
        return
    raw = request.get_data(cache=True)
    try:
        parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        g.bad_encoding = True


def log_exception_safely(exc: BaseException) -> None:
    """Log where an error happened, never its message: messages can carry input."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in reversed(frames[-6:]))
    log.error("unhandled %s at %s", type(exc).__name__, where)


def handle_http(exc: HTTPException) -> tuple[str, int] | HTTPException:
    code = exc.code or 500
    messages = {
        400: (_("Something was wrong with that"),
              _("The page could not understand what was sent. Please go back and try again.")),
        404: (_("Page not found"), _("There is nothing at this address. Check the link, or start again from the home page.")),
        405: (_("Not allowed"), _("This page cannot be used that way. Please start again from the home page.")),
        413: (_("Too long"), _("What you sent is too long for this form. Please make it shorter and send it again.")),
        429: (_("Please wait"), _("There have been too many attempts. Please wait a few minutes and try again.")),
    }
    title, text = messages.get(code, (_("Something went wrong"), _("Please try again later.")))
    return message(title, text, code)


def handle_storage(exc: Exception) -> tuple[str, int]:
    """StorageError, and ReadersChanged (the readers kept changing while sealing): nothing was kept."""
    log_exception_safely(exc)
    return message(_("Please try again later"),
                   _("The service cannot save anything right now. Nothing was kept. Please try again in a little while."),
                   503)


def handle_unexpected(exc: Exception) -> tuple[str, int] | HTTPException:
    if isinstance(exc, HTTPException):
        return handle_http(exc)
    log_exception_safely(exc)
    return message(_("Something went wrong"),
                   _("The service had a problem. Nothing you sent was kept. Please try again later."), 500)


def handle_no_genesis(_exc: Exception) -> tuple[str, int]:
    return message(_("The group is not founded yet"),
                   _("There is no founding record in the decision log. The operator runs "
                     "aidnet log genesis with the founding coordinators."), 503)


def install_onion_location(app: Flask, location: str) -> None:
    """On a clearnet mirror, tell Tor Browser the same page is at the onion (Onion-Location).

    Only the path travels, never the query string. Nothing is sent when unset.
    """
    if not location:
        return

    def add(response: Response) -> Response:
        if response.mimetype == "text/html":
            # Quoted: a raw path could carry CR/LF or non-Latin-1 text into a header (and the log).
            response.headers["Onion-Location"] = location + quote(request.path, safe="/")
        return response

    app.after_request(add)


def install(app: Flask, onion_location: str = "") -> None:
    app.before_request(check_encoding)
    install_onion_location(app, onion_location)  # only if set, for a clearnet mirror
    # Outermost, so a response from anywhere in the app gets them (stylesheet.install ran before).
    app.wsgi_app = SecurityHeaders(app.wsgi_app, app.config.get("AIDNET_STYLE_HASH"))  # type: ignore[method-assign]
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(StorageError, handle_storage)
    app.register_error_handler(ReadersChanged, handle_storage)
    app.register_error_handler(NoGenesis, handle_no_genesis)
    app.register_error_handler(Exception, handle_unexpected)
