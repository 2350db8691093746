"""Reading pages as a browser would: hidden fields, the request form's values, the codename on a receipt."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from .instance import PASSPHRASE


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def request_form(client: FlaskClient, **overrides: str) -> dict[str, str]:
    page = client.get("/").get_data(as_text=True)
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "form_nonce": hidden(page, "form_nonce"),
        "category": "food",
        "area": "north",
        "need": "Rice and lentils for a family of four",
        "contact": "",
        "urgency": "this_week",
    }
    data.update(overrides)
    return data


def codename_from(html: str) -> str:
    match = re.search(r'<p class="codename" id="codename" lang="zxx">([a-z ]+)</p>', html)
    assert match, "no codename on the receipt"
    return match.group(1)


class Auth:
    """Logs a test client in as a coordinator, through the real login form."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, handle: str = "alice", passphrase: str = PASSPHRASE) -> TestResponse:
        page = self.client.get("/coordinator/login").get_data(as_text=True)
        return self.client.post(
            "/coordinator/login",
            data={"csrf_token": hidden(page, "csrf_token"), "handle": handle, "passphrase": passphrase},
        )


def reply_data(request_page: str, text: str) -> dict[str, str]:
    """What the reply form on a coordinator's request page posts."""
    return {"csrf_token": hidden(request_page, "csrf_token"), "form_nonce": hidden(request_page, "form_nonce"),
            "text": text}
