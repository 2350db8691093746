"""Fixtures: a real instance folder with a real SQLCipher file, an app, a client, a store, a logged-in helper.

Helpers every test may use live in tests/helpers/; no test module imports another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers.instance import add_coordinator, make_instance
from helpers.pages import Auth

from aidnet.config import Settings
from aidnet.store import Store, open_store
from aidnet.web.app import create_app

# CI runs the property tests on a fixed seed, so a run is reproducible; locally each run explores anew.
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


# The longest files first: tests/run.sh hands files to both cores in collection order (pytest-xdist,
# --dist loadfile), and one started last would leave the other core idle while it finishes.
LONGEST_FIRST = ("test_requester_browser.py", "test_transparency_browser.py", "test_docs.py", "test_team_browser.py",
                 "test_coordinator_browser.py", "test_browser.py", "test_backup.py", "test_hostile.py",
                 "test_server_cannot_lie.py", "test_keyholder.py", "test_transparency_year.py", "test_cli.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


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
    with open_store(settings) as store:
        yield store


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)
