"""Languages: chosen by a path prefix (/es/, /fr/, /ar/), never by the browser's headers alone.

Tor Browser hides the browser's language, so a person picks theirs with a
link that is on every page. English lives at / (and /en/, so old links keep
working). A group adds a language by adding a catalogue (docs/development.md):
aidnet/translations/<code>/LC_MESSAGES/messages.po. Catalogues ship as .po
source and are compiled in memory when the app starts, so a fresh clone, an
editable install and a wheel behave the same and a broken catalogue stops
the start with a one-line reason.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel, Domain, refresh
from werkzeug.exceptions import HTTPException

DEFAULT = "en"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
# Paths under these stay unprefixed: the coordinators' cookie is scoped to /coordinator.
UNPREFIXED = ("/coordinator",)
ENVIRON_KEY = "aidnet.language"


class CatalogueError(Exception):
    """A shipped catalogue cannot be read or compiled."""


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in its own language, as people look for it
    rtl: bool


def catalogue_files(folder: Path | None = None) -> dict[str, Path]:
    """Every shipped catalogue, by language code."""
    folder = folder or TRANSLATIONS
    if not folder.is_dir():
        return {}
    return {p.parent.parent.name: p for p in sorted(folder.glob("*/LC_MESSAGES/messages.po"))}


def compile_catalogue(path: Path) -> Translations:
    """Read a .po file and compile it in memory; fuzzy and empty entries are left untranslated.

    Each call gets its own Translations; the compiled bytes are kept for the life of the process
    (both apps of a two-port worker, and every app a test makes, read each .po once), keyed by the
    file's identity and change time so an edited catalogue is read again.
    """
    try:
        stat = path.stat()
        compiled = _compiled_mo(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError, UnknownLocaleError) as exc:
        raise CatalogueError(f"cannot compile {path.name} for {path.parent.parent.name}: {type(exc).__name__}") from None
    return Translations(io.BytesIO(compiled), domain="messages")


@functools.lru_cache(maxsize=32)
def _compiled_mo(path: str, _inode: int, _mtime_ns: int, _size: int) -> bytes:
    with open(path, "rb") as f:
        catalog = read_po(f, locale=Path(path).parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def _language(code: str) -> Language:
    locale = Locale.parse(code)
    name = locale.get_display_name(code) or code
    return Language(code=code, name=name[:1].upper() + name[1:], rtl=locale.text_direction == "rtl")


class CompiledDomain(Domain):  # type: ignore[misc]  # flask_babel ships no type hints
    """Flask-Babel's domain, fed from catalogues compiled at start instead of .mo files on disk."""

    def __init__(self, translations: dict[str, Translations]) -> None:
        super().__init__()
        self.compiled = translations

    def get_translations(self) -> Translations | NullTranslations:
        if not has_request_context():
            return NullTranslations()
        return self.compiled.get(current_language(), NullTranslations())


def current_language() -> str:
    """The language of this request: its path prefix, else English."""
    if not has_request_context():
        return DEFAULT
    code = request.environ.get(ENVIRON_KEY, DEFAULT)
    return code if isinstance(code, str) else DEFAULT


class LanguagePrefix:
    """WSGI middleware: /es/status is /status in Spanish.

    The prefix moves into SCRIPT_NAME, so every url_for() in a Spanish page
    (links, form actions) keeps the person in Spanish without any view knowing.
    """

    def __init__(self, app: Callable[..., Any], codes: Iterable[str]) -> None:
        self.app = app
        self.codes = frozenset(codes)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        _, first, rest = (path + "/").split("/", 2) if path.startswith("/") else ("", "", "")
        if first in self.codes:
            rest = "/" + rest[:-1] if rest else "/"
            if not rest.startswith(UNPREFIXED):
                environ[ENVIRON_KEY] = first
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + first
                environ["PATH_INFO"] = rest
        return self.app(environ, start_response)


def use_language(code: str | None) -> bool:
    """Show the rest of this request in code (a coordinator's own choice), if it is a shipped language."""
    if not code or code not in {la.code for la in current_app.config["AIDNET_LANGUAGES"]}:
        return False
    request.environ[ENVIRON_KEY] = code
    refresh()  # flask-babel may have settled on a locale already
    return True


@contextmanager
def speaking(code: str) -> Iterator[None]:
    """Render a part of a page in another shipped language (a slip for the requester), then go back."""
    before = request.environ.get(ENVIRON_KEY)
    use_language(code)
    try:
        yield
    finally:
        if before is None:
            request.environ.pop(ENVIRON_KEY, None)
        else:
            request.environ[ENVIRON_KEY] = before
        refresh()


def language_links() -> list[tuple[Language, str, bool]]:
    """(language, link to this page in it, is current) for the switcher."""
    if request.path.startswith(UNPREFIXED):
        return []
    languages: list[Language] = current_app.config["AIDNET_LANGUAGES"]
    here = current_language()
    path = request.path
    if request.method != "GET":
        # The answer to a form: link to the nearest address that is also a page
        # (/status/answer -> /status), else to the start.
        adapter = current_app.url_map.bind("localhost")
        while path != "/":
            try:
                adapter.match(path, method="GET")
                break
            except HTTPException:
                path = path.rstrip("/").rsplit("/", 1)[0] or "/"
    links = []
    for language in languages:
        prefix = "" if language.code == DEFAULT else "/" + language.code
        links.append((language, prefix + path, language.code == here))
    return links


def install(app: Flask) -> Babel:
    """Compile every catalogue, pick the language per request, offer the switcher in templates."""
    compiled = {code: compile_catalogue(path) for code, path in catalogue_files().items()}
    codes = [DEFAULT] + sorted(c for c in compiled if c != DEFAULT)
    languages = [_language(code) for code in codes]
    app.config["AIDNET_LANGUAGES"] = languages
    babel = Babel(app, locale_selector=current_language)
    babel.domain_instance = CompiledDomain(compiled)
    app.wsgi_app = LanguagePrefix(app.wsgi_app, codes)  # type: ignore[method-assign]

    @app.context_processor
    def language_context() -> dict[str, Any]:
        code = current_language()
        language = next((la for la in languages if la.code == code), languages[0])
        return {"language": language, "language_links": language_links, "languages": languages}

    return babel
