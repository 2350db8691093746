"""aidnet: a privacy-first server for mutual aid groups."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from flask_babel import Babel

from .config import Settings
from .db import close_store
from .storage import Store

# Request bodies beyond this are refused before they are read (413).
MAX_BODY_BYTES = 64 * 1024


def _resource_dir(name: str) -> Path:
    """templates/ sits inside the package when installed, beside it in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / name
    return installed if installed.is_dir() else here.parent / name


def create_app(settings: Settings) -> Flask:
    """Wire the app for one instance. Migrates the database on start."""
    from . import security
    from .web import coordinator, public

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
    Babel(app, locale_selector=lambda: "en")
    logging.getLogger("aidnet").setLevel(logging.INFO)

    store = Store(settings.database, settings.db_key, settings.lock_file)
    try:
        store.migrate()
    finally:
        store.close()

    security.install(app)
    app.teardown_appcontext(close_store)
    app.register_blueprint(public.bp)
    app.register_blueprint(coordinator.bp)
    return app
