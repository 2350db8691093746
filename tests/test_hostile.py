"""Hostile input on every requester form: ask, check, answer, withdraw.

Each case gets either a clear message in the page's language (and the right
status, with nothing half-written) or is stored exactly as typed, sealed.
Nothing answers 5xx.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from helpers.instance import PASSPHRASE
from helpers.pagecheck import page_problems
from helpers.pages import codename_from, hidden, request_form

from aidnet.config import Settings
from aidnet.records import conversation, coordinators, requests
from aidnet.store import Store, counters
from aidnet.store import requests as request_rows
from aidnet.web import i18n

PREFIXES = {"en": "", "es": "/es", "ar": "/ar"}
TYPED = {
    "bidi overrides": "pay \u202eevil\u202c to \u2067isolate\u2069 \u200fمرحبا",
    "html": '<script>alert(1)</script><img src=x onerror=alert(1)> <a href="javascript:x">y</a>',
    "template": "{{ 7*7 }} {% for x in y %} ${7*7} #{7*7} %(max)d {0}",
    "sql": "Robert'); DROP TABLE requests;-- \" OR 1=1 /*",
    "crlf": "line one\r\nline two\r\n\r\nSet-Cookie: x=1\r\n",
    "emoji": "👩🏽‍🍼 🍚🥫 🇸🇾 ﷽ 𝕏",
    "unicode edge": "\ufeffBOM \u00ad soft\u200bhyphen, combining e\u0301, CJK 援助",
}
CONTROL = "This contains characters that cannot be kept (such as control characters). Please remove them."
BAD = {"nul": ("need\x00here", CONTROL), "bell": ("ring\x07", CONTROL), "escape": ("\x1b[31mred", CONTROL),
       "c1 control": ("x\x85y\x9bz", CONTROL)}


def translated(language: str, message: str) -> str:
    if language == "en":
        return message
    return str(i18n.compile_catalogue(i18n.catalogue_files()[language]).gettext(message))


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def counts(store: Store) -> tuple[int, ...]:
    return tuple(store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                 for t in ("requests", "replies", "answers", "counters", "used_forms"))


def raw_post(client: FlaskClient, path: str, fields: dict[str, str], raw_tail: str = ""):  # type: ignore[no-untyped-def]
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()) + raw_tail
    return client.post(path, data=body.encode("latin-1"), content_type="application/x-www-form-urlencoded")


@pytest.fixture
def coordinator_keys(settings: Settings, store: Store) -> Iterator[object]:
    cookie = coordinators.login(store, settings, "alice", PASSPHRASE)
    session = coordinators.resume(store, settings, cookie)
    assert session is not None
    yield session.keys


def status_page(client: FlaskClient, prefix: str, codename: str) -> str:
    page = client.get(prefix + "/status").get_data(as_text=True)
    response = client.post(prefix + "/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def new_request(client: FlaskClient) -> str:
    return codename_from(client.post("/", data=request_form(client)).get_data(as_text=True))


# The request form


@pytest.mark.parametrize("case", list(TYPED))
def test_request_stored_exactly_as_typed(client: FlaskClient, store: Store, coordinator_keys, case: str) -> None:  # type: ignore[no-untyped-def]
    typed = TYPED[case]
    response = client.post("/ar/", data=request_form(client, need=typed, contact=typed[:300]))
    assert response.status_code == 201
    row = request_rows.page(store, 0, 1)[0]
    assert typed.encode("utf-8") not in row.envelope
    opened = requests.open_request(store, coordinator_keys, row.id.hex())
    assert opened is not None and opened.details is not None
    assert opened.details.need == typed and opened.details.contact == typed[:300]


@pytest.mark.parametrize("language", list(PREFIXES))
@pytest.mark.parametrize("case", list(BAD))
def test_request_refuses_control_characters(client: FlaskClient, store: Store, language: str, case: str) -> None:
    typed, message = BAD[case]
    before = counts(store)
    response = client.post(PREFIXES[language] + "/", data=request_form(client, need=typed, contact="keep me"))
    assert response.status_code == 400
    text = page_text(response)
    assert translated(language, message) in text and 'value="keep me"' in response.get_data(as_text=True)
    assert counts(store) == before


@pytest.mark.parametrize("language", list(PREFIXES))
def test_request_oversized_fields_and_body(client: FlaskClient, store: Store, language: str) -> None:
    prefix = PREFIXES[language]
    before = counts(store)
    long_need = client.post(prefix + "/", data=request_form(client, need="a" * 4001))
    assert long_need.status_code == 400
    assert translated(language, "Please keep this under %(max)d characters.") % {"max": 4000} in page_text(long_need)
    long_contact = client.post(prefix + "/", data=request_form(client, contact="b" * 301))
    assert long_contact.status_code == 400
    huge = client.post(prefix + "/", data=request_form(client, need="c" * 200_000))
    assert huge.status_code == 413
    assert translated(language, "What you sent is too long for this form. Please make it shorter and send it again.") \
        in page_text(huge)
    many_fields = raw_post(client, prefix + "/", request_form(client), "&x=" + "&x=".join(["y"] * 20000))
    assert many_fields.status_code in (400, 413)
    assert counts(store) == before


@pytest.mark.parametrize("language", list(PREFIXES))
def test_request_invalid_utf8(client: FlaskClient, store: Store, language: str) -> None:
    before = counts(store)
    fields = {k: v for k, v in request_form(client).items() if k != "need"}
    response = raw_post(client, PREFIXES[language] + "/", fields, "&need=soup%C3%28%FF%C0%AF")
    assert response.status_code == 400
    assert translated(language, "Some characters could not be read. Please check your text and send it again.") \
        in page_text(response)
    assert counts(store) == before


def test_request_repeated_submission_is_kept_once(client: FlaskClient, store: Store) -> None:
    data = request_form(client, need="the same form twice")
    assert client.post("/es/", data=data).status_code == 201
    for _ in range(3):
        again = client.post("/es/", data=data)
        assert again.status_code == 409
        assert translated("es", "Already received") in page_text(again)
    assert request_rows.count(store) == 1


def test_request_non_form_bodies(client: FlaskClient, store: Store) -> None:
    assert client.post("/", data=b"\x00\xff" * 100, content_type="application/octet-stream").status_code == 400
    assert client.post("/", data=b'{"need": "x"}', content_type="application/json").status_code == 400
    assert client.post("/", data={"need": ["a", "b"]}).status_code == 400
    assert request_rows.count(store) == 0


# The status form


@pytest.mark.parametrize("typed", [
    "\u202ebako mize", "<script>alert(1)</script>", "{{ 7*7 }}", "' OR 1=1 --", "a\r\nb", "🙂 🙂 🙂",
    "bako\u200bmize tula bako mize tula bako", "BAKO MIZE TULA BAKO MIZE TULA BAKO",
])
def test_status_hostile_codenames_are_neutral(client: FlaskClient, typed: str) -> None:
    page = client.get("/fr/status").get_data(as_text=True)
    response = client.post("/fr/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": typed})
    assert response.status_code == 404
    text = page_text(response)
    assert translated("fr", "We could not find a request with that codename. Check the words and try again.") in text
    assert "<script>alert" not in response.get_data(as_text=True)


@pytest.mark.parametrize(("typed", "message"), [
    ("x" * 201, "That is too long to be a codename."),
    ("bako\x00mize", "This contains characters that cannot be kept (such as control characters). Please remove them."),
    ("", "Type the codename from your receipt."),
])
def test_status_bad_codenames_get_a_message(client: FlaskClient, typed: str, message: str) -> None:
    page = client.get("/ar/status").get_data(as_text=True)
    response = client.post("/ar/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": typed})
    assert response.status_code == 400
    assert translated("ar", message) in page_text(response)


def test_status_invalid_utf8_and_huge_body(client: FlaskClient) -> None:
    page = client.get("/status").get_data(as_text=True)
    bad = raw_post(client, "/status", {"csrf_token": hidden(page, "csrf_token")}, "&codename=bako%FFmize")
    assert bad.status_code == 400 and "Some characters could not be read" in page_text(bad)
    huge = client.post("/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": "z" * 100_000})
    assert huge.status_code == 413


# The answer form


@pytest.mark.parametrize("case", list(TYPED))
def test_answer_stored_exactly_as_typed(client: FlaskClient, store: Store, settings: Settings, case: str) -> None:
    codename = new_request(client)
    page = status_page(client, "/es", codename)
    response = client.post("/es/status/answer", data={
        "csrf_token": hidden(page, "csrf_token"), "codename": codename, "form_nonce": hidden(page, "form_nonce"),
        "answer": TYPED[case]})
    assert response.status_code == 200
    view = conversation.for_requester(store, settings, codename)
    assert view is not None and [m.text for m in view.messages] == [TYPED[case]]
    assert "<script>alert" not in response.get_data(as_text=True)


@pytest.mark.parametrize("language", list(PREFIXES))
def test_answer_bad_input(client: FlaskClient, store: Store, language: str) -> None:
    prefix = PREFIXES[language]
    codename = new_request(client)
    page = status_page(client, prefix, codename)
    base = {"csrf_token": hidden(page, "csrf_token"), "codename": codename, "form_nonce": hidden(page, "form_nonce")}
    before = counts(store)
    cases = [
        (dict(base, answer="a" * 4001), 400, translated(language, "Please keep this under %(max)d characters.") % {"max": 4000}),
        (dict(base, answer="nul\x00"), 400, translated(language, BAD["nul"][1])),
        (dict(base, answer=""), 400, translated(language, "Write your answer first.")),
        (dict(base, answer="hi", csrf_token="forged"), 400, translated(
            language, "This form had expired or was not sent from this site. Check what you wrote and send it again.")),
        (dict(base, answer="hi", codename="x" * 201), 400, translated(
            language, "We could not find a request with that codename. Check the words and try again.")),
        (dict(base, answer="hi", codename="bako mize tula bako mize tula bako"), 404, translated(
            language, "We could not find a request with that codename. Check the words and try again.")),
        (dict(base, answer="hi", form_nonce="short"), 400, None),
    ]
    for data, code, message in cases:
        response = client.post(prefix + "/status/answer", data=data)
        assert response.status_code == code, data
        if message:
            assert message in page_text(response)
        if code == 400 and data.get("answer") and len(data["answer"]) > 100 and data["codename"] == codename:
            assert data["answer"] in page_text(response)  # typed text kept
    huge = client.post(prefix + "/status/answer", data=dict(base, answer="q" * 100_000))
    assert huge.status_code == 413
    bad = raw_post(client, prefix + "/status/answer", base, "&answer=%FF%FE")
    assert bad.status_code == 400
    assert translated(language, "Some characters could not be read. Please check your text and send it again.") \
        in page_text(bad)
    assert counts(store) == before


def test_answer_repeated_submission_is_kept_once(client: FlaskClient, store: Store) -> None:
    codename = new_request(client)
    page = status_page(client, "", codename)
    data = {"csrf_token": hidden(page, "csrf_token"), "codename": codename, "form_nonce": hidden(page, "form_nonce"),
            "answer": "only once"}
    assert client.post("/status/answer", data=data).status_code == 200
    for _ in range(3):
        assert client.post("/status/answer", data=data).status_code == 409
    assert store.conn.execute("SELECT count(*) FROM answers").fetchone()[0] == 1


# The withdraw form


@pytest.mark.parametrize("language", list(PREFIXES))
def test_withdraw_bad_input_erases_nothing(client: FlaskClient, store: Store, language: str) -> None:
    prefix = PREFIXES[language]
    codename = new_request(client)
    page = status_page(client, prefix, codename)
    token = hidden(page, "csrf_token")
    before = counts(store)
    cases = [
        ({"csrf_token": token, "codename": codename}, 400,
         translated(language, "Tick the box to confirm that you want to erase your request.")),
        ({"csrf_token": "forged", "codename": codename, "confirm": "y"}, 400, translated(
            language, "This form had expired or was not sent from this site. Check what you wrote and send it again.")),
        ({"csrf_token": token, "codename": "\u202ebako mize tula bako mize tula bako", "confirm": "y"}, 404, None),
        ({"csrf_token": token, "codename": codename + "\x00", "confirm": "y"}, 400, None),
        ({"csrf_token": token, "codename": "<b>" * 100, "confirm": "y"}, 400, None),
        ({"csrf_token": token, "codename": "'; DELETE FROM requests; --", "confirm": "y"}, 404, None),
    ]
    for data, code, message in cases:
        response = client.post(prefix + "/status/withdraw", data=data)
        assert response.status_code == code, data
        if message:
            assert message in page_text(response)
    bad = raw_post(client, prefix + "/status/withdraw", {"csrf_token": token, "confirm": "y"}, "&codename=%FF")
    assert bad.status_code == 400
    assert client.post(prefix + "/status/withdraw", data={"csrf_token": token, "codename": "w" * 100_000,
                                                          "confirm": "y"}).status_code == 413
    assert counts(store) == before and request_rows.count(store) == 1


def test_withdraw_repeated_submission(client: FlaskClient, store: Store) -> None:
    codename = new_request(client)
    page = status_page(client, "/ar", codename)
    data = {"csrf_token": hidden(page, "csrf_token"), "codename": codename, "confirm": "y"}
    first = client.post("/ar/status/withdraw", data=data)
    assert first.status_code == 200 and translated("ar", "Your request was erased") in page_text(first)
    for _ in range(2):
        again = client.post("/ar/status/withdraw", data=data)
        assert again.status_code == 404
    assert request_rows.count(store) == 0
    withdrawn = [n for _w, c, a, e, n in counters.all_counters(store) if e == "withdrawn"]
    assert withdrawn == [1]


def test_every_hostile_page_is_clean(client: FlaskClient) -> None:
    """Whatever came in, what goes out has no script, handler or off-site URL."""
    codename = new_request(client)
    page = status_page(client, "", codename)
    for typed in TYPED.values():
        response = client.post("/status/answer", data={
            "csrf_token": hidden(page, "csrf_token"), "codename": codename,
            "form_nonce": secrets.token_urlsafe(16), "answer": typed})
        assert page_problems(response.get_data(as_text=True)) == []
    assert not re.search(r"<img src=x", status_page(client, "", codename))
