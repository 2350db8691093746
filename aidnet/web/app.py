"""create_app: wiring only. Settings in, a Flask app out, for all pages or for the public port alone."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from jinja2.bccache import Bucket, BytecodeCache

from crypto.log import LogError

from ..config import ConfigError, Settings
from ..records.budget import IntakeBudget
from ..sealing.readers import check_at_start
from ..store import Durability, open_store
from . import (
    allocations,
    ask,
    auth,
    coordinator,
    decisions,
    disputes,
    hardening,
    health,
    i18n,
    intake,
    keep,
    labels,
    offers,
    passphrase,
    status,
    stock,
    stylesheet,
    transparency,
    twostep,
)
from .connections import close_store
from .sessions import CookieSessions

# Request bodies beyond this are refused before they are read (413).
MAX_BODY_BYTES = 64 * 1024
# Which pages an app serves: "all", or "public" = everything but the coordinator
# routes, for the port the public onion points to (aidnet/serve/server.py). The
# coordinator port serves "all": only authorized coordinators reach it.
ROLES = ("all", "public")


def _resource_dir(name: str) -> Path:
    """templates/ sits inside the package when installed, beside it in a checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / name
    return installed if installed.is_dir() else package.parent / name


class ProcessTemplateCache(BytecodeCache):
    """Jinja's compiled templates, kept in this process's memory for every app it makes.

    Jinja checks each template's source against the checksum kept with its code,
    so a changed template is compiled again. Nothing is written anywhere.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = ProcessTemplateCache()


def create_app(settings: Settings, role: str = "all", durability: Durability | None = None,
               budget: IntakeBudget | None = None) -> Flask:
    """Wire the app for one instance. Migrates the database and verifies the decision log on start.

    durability is shared by every Store the app opens (one per server thread):
    pass the same one to every app of a process, so that a disk that refused
    one commit stops them all (aidnet/store/connection.py). budget is the
    public forms' budget a minute: the server passes the one its master made,
    shared by every worker (records/budget.py); without one the app has its own.
    """
    if role not in ROLES:
        raise ValueError("role must be all or public")
    templates = _resource_dir("templates")
    app = Flask(__name__, template_folder=str(templates), static_folder=str(templates / "static"))
    # Templates compiled once a process, not once an app (a two-port worker has two; tests make many).
    app.jinja_options = {**app.jinja_options, "bytecode_cache": COMPILED_TEMPLATES}
    app.config.update(
        AIDNET=settings,
        AIDNET_DURABILITY=durability or Durability(),
        AIDNET_INTAKE=budget or IntakeBudget(),
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
    labels.install(app)  # |category, |area: the group's own words in the page's language
    stylesheet.install(app, templates / "static")  # CSS inline: one request a page
    logging.getLogger("aidnet").setLevel(logging.INFO)

    with open_store(settings, app.config["AIDNET_DURABILITY"]) as store:
        store.migrate()
        try:
            # Refuse to start on a log that does not verify: it decides who can read.
            check_at_start(store)
        except LogError as exc:
            raise ConfigError(f"the decision log does not verify: {exc}") from None

    hardening.install(app, settings.onion_location)
    app.teardown_appcontext(close_store)
    for blueprint in (health.bp, ask.bp, status.bp, offers.bp, disputes.bp, transparency.bp, intake.paper_bp):
        app.register_blueprint(blueprint)
    if role == "all":
        for blueprint in (auth.bp, coordinator.bp, twostep.bp, passphrase.bp, decisions.bp, allocations.bp, stock.bp,
                          keep.bp, intake.bp):
            app.register_blueprint(blueprint)
    return app
