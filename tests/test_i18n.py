"""Languages: every shipped catalogue complete, chosen by path prefix, Arabic right-to-left."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from helpers.instance import make_instance
from helpers.pages import codename_from, hidden, request_form

from aidnet.config import load_settings
from aidnet.decisions.effects import NotEnoughMoney
from aidnet.web import i18n, pages
from aidnet.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ["es", "fr", "ar"]


def extracted() -> dict[str, list[str]]:
    """Every translatable string in the code and templates, as pybabel extract -F babel.cfg finds it."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = dict(DEFAULT_KEYWORDS, _l=None, lazy_gettext=None)
    found: dict[str, list[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        key = message if isinstance(message, str) else message[0]
        found.setdefault(key, []).append(filename)
    return found


def test_the_shipped_languages_are_there() -> None:
    assert set(LANGUAGES) <= set(i18n.catalogue_files())


@pytest.mark.parametrize("language", sorted(i18n.catalogue_files()))
def test_every_catalogue_is_complete(language: str) -> None:
    """Each msgid found in the code and templates has a real, non-fuzzy translation with the same placeholders."""
    path = i18n.catalogue_files()[language]
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    strings = extracted()
    assert len(strings) > 50
    problems = []
    for msgid, files in sorted(strings.items()):
        message = catalog.get(msgid) or next((m for m in catalog if isinstance(m.id, tuple) and m.id[0] == msgid), None)
        if message is None:
            problems.append(f"missing: {msgid!r} (from {files[0]})")
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(form and form.strip() for form in forms):
            problems.append(f"empty: {msgid!r}")
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        placeholders = set(re.findall(r"%\(\w+\)[sd]", msgid))
        for form in forms:
            if set(re.findall(r"%\(\w+\)[sd]", form or "")) != placeholders:
                problems.append(f"placeholders differ: {msgid!r}")
    for message, errors in catalog.check():
        problems += [f"{message.id!r}: {e}" for e in errors]
    assert problems == [], f"{language}: run `sh ops/translations.sh` and translate:\n" + "\n".join(problems[:40])


def test_catalogues_compile_in_memory() -> None:
    for language, path in i18n.catalogue_files().items():
        translations = i18n.compile_catalogue(path)
        assert translations.gettext("Ask for help") != "Ask for help", language


def test_a_broken_catalogue_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "xx" / "LC_MESSAGES" / "messages.po"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b'msgid "a"\nmsgstr "b\n\xff\xfe')
    with pytest.raises(i18n.CatalogueError):
        i18n.compile_catalogue(bad)


@pytest.mark.parametrize(
    ("prefix", "lang", "direction", "heading"),
    [("", "en", "ltr", "Ask for help"), ("/en", "en", "ltr", "Ask for help"),
     ("/es", "es", "ltr", "Pedir ayuda"), ("/fr", "fr", "ltr", "Demander de l'aide"),
     ("/ar", "ar", "rtl", "اطلب المساعدة")],
)
def test_language_by_path_prefix(client: FlaskClient, prefix: str, lang: str, direction: str, heading: str) -> None:
    page = client.get(prefix + "/").get_data(as_text=True)
    assert f'<html lang="{lang}" dir="{direction}">' in page
    assert f"<h1>{heading}</h1>" in page
    # Every link and form stays in the language; the switcher offers the others.
    assert f'action="{prefix}/"' in page or (prefix == "" and 'action="/"' in page)
    for other in ("es", "fr", "ar"):
        if other != lang:
            assert f'href="/{other}/"' in page and f'hreflang="{other}"' in page
    if lang != "en":
        assert 'href="/"' in page and 'hreflang="en"' in page


def test_accept_language_alone_changes_nothing(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept-Language": "ar,es;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page


def test_coordinator_pages_stay_unprefixed(client: FlaskClient) -> None:
    assert client.get("/es/coordinator/login").status_code == 404
    page = client.get("/coordinator/login").get_data(as_text=True)
    # The coordinators' cookie is scoped to /coordinator: their language is the account's, not a path prefix.
    assert 'href="/es/coordinator' not in page and 'href="/coordinator/login?lang=es"' in page


def test_labels_come_from_the_config_per_language(client: FlaskClient) -> None:
    page = client.get("/es/").get_data(as_text=True)
    assert ">Medicinas</option>" in page and ">Norte</option>" in page
    page = client.get("/ar/").get_data(as_text=True)
    assert ">أدوية</option>" in page and ">الشمال</option>" in page


def test_plain_string_labels_still_work(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "i")
    config = settings.instance / "config.toml"
    text = config.read_text(encoding="utf-8")
    start, end = text.index("[categories]"), text.index("[areas]")
    config.write_text(text[:start] + '[categories]\nfood = "Food"\nrent = { en = "Rent", fr = "Loyer" }\n\n'
                      + text[end:], encoding="utf-8")
    settings = load_settings(settings.instance)
    assert settings.categories == {"food": "Food", "rent": "Rent"}
    assert settings.labels_in("categories", "fr") == {"food": "Food", "rent": "Loyer"}
    assert settings.labels_in("categories", "es") == {"food": "Food", "rent": "Rent"}


def test_errors_and_receipt_are_translated(client: FlaskClient) -> None:
    data = request_form(client, need="")
    page = client.post("/fr/", data=data).get_data(as_text=True)
    assert "Il y a un problème" in page and "Dites-nous ce dont vous avez besoin." in page
    receipt = client.post("/ar/", data=request_form(client)).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in receipt and "وصلنا طلبك" in receipt
    codename = codename_from(receipt)
    # The codename stays left-to-right words inside the Arabic page.
    assert 'lang="zxx"' in receipt and codename
    # On the receipt (shown once), the language links open a new tab so it is not lost.
    assert re.search(r'<a href="/es/"[^>]*target="_blank" rel="noopener"', receipt)
    missing = client.get("/es/nowhere").get_data(as_text=True)
    assert "Página no encontrada" in missing
    page = client.get("/es/status").get_data(as_text=True)
    wrong = client.post("/es/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": "bako mize"})
    assert wrong.status_code == 404 and "No encontramos ninguna solicitud" in wrong.get_data(as_text=True)


@pytest.mark.parametrize(("language", "said"), [
    ("en", "There is not enough money for Medicine: 12 is recorded as received for it"),
    ("es", "No hay dinero suficiente para Medicinas: 12 consta como recibido"),
    ("fr", "Il n'y a pas assez d'argent pour Médicaments : 12 est enregistré comme reçu"),
    ("ar", "لا يوجد مال كافٍ لـأدوية: المسجل كمستلم لنوع المساعدة هذا وغير مخصص بعد هو 12."),
])
def test_money_beyond_its_kind_of_help_is_refused_in_the_readers_language(app: Flask, language: str, said: str) -> None:
    with app.test_request_context("/coordinator/"):
        i18n.use_language(language)
        assert said in pages.not_enough_money(NotEnoughMoney("medicine", 12))


def test_the_wheel_ships_every_catalogue(tmp_path: Path) -> None:
    """A non-editable install (pip install .) carries the catalogues, the icon and the stylesheet."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", str(tmp_path),
         str(ROOT)], capture_output=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    (wheel,) = tmp_path.glob("aidnet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for language in i18n.catalogue_files():
        assert f"aidnet/translations/{language}/LC_MESSAGES/messages.po" in names
    assert {"aidnet/templates/static/favicon.ico", "aidnet/templates/static/style.css"} <= names


def test_app_starts_with_every_language(tmp_path: Path) -> None:
    app = create_app(make_instance(tmp_path / "i"))
    codes = [la.code for la in app.config["AIDNET_LANGUAGES"]]
    assert codes[0] == "en" and set(LANGUAGES) <= set(codes)
    assert next(la for la in app.config["AIDNET_LANGUAGES"] if la.code == "ar").rtl


def test_a_catalogue_file_is_all_a_new_language_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(i18n.TRANSLATIONS, tmp_path / "translations")
    (tmp_path / "translations" / "pt" / "LC_MESSAGES").mkdir(parents=True)
    po = (tmp_path / "translations" / "es" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    po = po.replace('msgid "Ask for help"\nmsgstr "Pedir ayuda"', 'msgid "Ask for help"\nmsgstr "Pedir ajuda"')
    (tmp_path / "translations" / "pt" / "LC_MESSAGES" / "messages.po").write_text(po, encoding="utf-8")
    monkeypatch.setattr(i18n, "TRANSLATIONS", tmp_path / "translations")
    client = create_app(make_instance(tmp_path / "i")).test_client()
    page = client.get("/pt/").get_data(as_text=True)
    assert '<html lang="pt" dir="ltr">' in page and "<h1>Pedir ajuda</h1>" in page
    assert 'href="/pt/"' in client.get("/").get_data(as_text=True)


def test_switcher_after_a_form_points_to_a_page(client: FlaskClient) -> None:
    codename = codename_from(client.post("/", data=request_form(client)).get_data(as_text=True))
    page = client.get("/status").get_data(as_text=True)
    status = client.post("/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename})
    page = status.get_data(as_text=True)
    sent = client.post("/fr/status/answer", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename,
                                                  "form_nonce": hidden(page, "form_nonce"), "answer": "merci"})
    body = sent.get_data(as_text=True)
    assert sent.status_code == 200 and 'href="/es/status"' in body and 'href="/status"' in body
