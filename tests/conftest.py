"""Shared fixtures: a real instance folder with a real SQLCipher file, fast Argon2 via config."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from flask import Flask
from flask.testing import FlaskClient

from aidnet import coordinators, create_app, governance
from aidnet.config import Settings, create_instance, load_settings
from aidnet.storage import Store

# CI runs the property tests on a fixed seed, so a run is reproducible; locally each run explores anew.
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

PASSPHRASE = "correct horse battery staple"
FAST_ARGON2 = "[argon2]\ntime_cost = 1\nmemory_kib = 8192\nparallelism = 1\n"


def make_instance(path: Path) -> Settings:
    """A fresh instance whose Argon2 cost is lowered in its config (never in the code)."""
    create_instance(path)
    config = path / "config.toml"
    text = config.read_text()
    text = text[: text.index("[argon2]")] + FAST_ARGON2
    config.write_text(text)
    return load_settings(path)


def add_coordinator(settings: Settings, handle: str = "alice", passphrase: str = PASSPHRASE) -> None:
    """Add a coordinator account; the first one also founds the decision log (1 of 1).

    Later accounts are not readers until a quorum signs their membership.
    """
    store = Store(settings.database, settings.db_key, settings.lock_file)
    try:
        store.migrate()
        coordinators.add_coordinator(store, settings, handle, passphrase)
        if not governance.has_genesis(store):
            governance.genesis_from_accounts(store, [(handle, passphrase)], quorum=1)
    finally:
        store.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    return settings


@pytest.fixture
def app(settings: Settings) -> Flask:
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store(settings.database, settings.db_key, settings.lock_file)
    yield store
    store.close()


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
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, handle: str = "alice", passphrase: str = PASSPHRASE):  # type: ignore[no-untyped-def]
        page = self.client.get("/coordinator/login").get_data(as_text=True)
        return self.client.post(
            "/coordinator/login",
            data={"csrf_token": hidden(page, "csrf_token"), "handle": handle, "passphrase": passphrase},
        )


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)
