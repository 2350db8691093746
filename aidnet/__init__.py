"""aidnet: a privacy-first server for mutual aid groups."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from . import i18n, pagestyle
from .config import Settings
from .db import close_store
from .sessions import CookieSessions
from .storage import Store

# Request bodies beyond this are refused before they are read (413).
MAX_BODY_BYTES = 64 * 1024


def _resource_dir(name: str) -> Path:
    """templates/ sits inside the package when installed, beside it in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / name
    return installed if installed.is_dir() else here.parent / name


# Which pages an app serves: "all", or "public" = everything but the coordinator
# routes, for the port the public onion points to (see server.py). The
# coordinator port serves "all": only authorized coordinators reach it.
ROLES = ("all", "public")


def create_app(settings: Settings, role: str = "all") -> Flask:
    """Wire the app for one instance. Migrates the database on start."""
    from crypto.log import LogError

    from . import governance, onion, security
    from .config import ConfigError
    from .web import allocations, coordinator, decisions, disputes, health, offers, public, requester, transparency, twostep
    from .web import retention as retention_views

    if role not in ROLES:
        raise ValueError("role must be all or public")

    templates = _resource_dir("templates")
    app = Flask(__name__, template_folder=str(templates), static_folder=str(templates / "static"))
    app.config.update(
        AIDNET=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
        SESSION_COOKIE_NAME="aidnet",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # Pages send no Referer (Referrer-Policy: no-referrer), so Flask-WTF's HTTPS
        # referrer check would refuse every form; the token and SameSite=Strict remain.
        WTF_CSRF_SSL_STRICT=False,
        WTF_CSRF_TIME_LIMIT=4 * 3600,
    )
    app.session_interface = CookieSessions()  # Flask's cookies, made with less work (sessions.py)
    i18n.install(app)  # language by path prefix (/es/, /fr/, /ar/), catalogues compiled at start
    pagestyle.install(app, templates / "static" / "style.css")  # CSS inline: one request a page
    logging.getLogger("aidnet").setLevel(logging.INFO)

    store = Store(settings.database, settings.db_key, settings.lock_file)
    try:
        store.migrate()
        # Refuse to start on a log that does not verify: it decides who can read.
        governance.check_at_start(store)
    except LogError as exc:
        raise ConfigError(f"the decision log does not verify: {exc}") from None
    finally:
        store.close()

    security.install(app)
    onion.install_onion_location(app, settings.onion_location)  # only if set, for a clearnet mirror
    app.teardown_appcontext(close_store)
    app.register_blueprint(health.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(offers.bp)  # offers of goods, time, transport or money
    app.register_blueprint(disputes.bp)  # a requester disputes a decision about their request
    app.register_blueprint(requester.bp)  # conversation and erasure, from the status page
    app.register_blueprint(transparency.bp)  # signed public totals
    if role == "all":
        app.register_blueprint(coordinator.bp)
        app.register_blueprint(twostep.bp)  # optional TOTP second factor (aidnet/totp.py)
        app.register_blueprint(decisions.bp)
        app.register_blueprint(allocations.bp)
        app.register_blueprint(offers.admin)  # stock and funds received
        app.register_blueprint(retention_views.bp)  # keep a request longer, with a sealed reason
    return app
