"""The account rules in aidnet/records/coordinators.py, each pinned so a change to it fails a test.

The clock is the one seam these rules read (time.time): a test moves it instead of waiting, so a session
can age past a minute, an hour or a day in no time at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.instance import PASSPHRASE, add_coordinator, make_instance

import crypto
from aidnet.config import Settings, load_settings
from aidnet.records import coordinators
from aidnet.store import Store, open_store
from aidnet.store import accounts as account_rows

START = 1_900_000_020.0  # 20 s into a minute, well inside a login window: nothing rolls over by itself


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Sets the time every rule reads; starts at START."""
    now = [START]
    monkeypatch.setattr(time, "time", lambda: now[0])

    def set_to(seconds_after_start: float) -> None:
        now[0] = START + seconds_after_start
    return set_to


def idle_until(store: Store) -> int:
    """The one session's idle expiry, as the server keeps it."""
    (value,), = store.conn.execute("SELECT idle_until FROM sessions").fetchall()
    return int(value)


def test_a_session_in_use_slides_its_idle_expiry_and_one_left_idle_past_its_limit_ends(
        store: Store, settings: Settings, clock: Callable[[float], None]) -> None:
    idle = settings.session_idle_minutes * 60
    cookie = coordinators.login(store, settings, "alice", PASSPHRASE)
    assert idle_until(store) == START + idle
    clock(59)  # within the first minute: the expiry is not written again (one write a minute at most)
    assert coordinators.resume(store, settings, cookie) is not None
    assert idle_until(store) == START + idle
    clock(60)  # a minute on: the expiry moves to a full idle period from now
    assert coordinators.resume(store, settings, cookie) is not None
    assert idle_until(store) == START + 60 + idle
    clock(60 + idle - 1)  # past the first login's idle limit, but the page a minute in renewed it
    assert coordinators.resume(store, settings, cookie) is not None
    assert idle_until(store) == START + 60 + idle - 1 + idle
    clock(60 + idle - 1 + idle + 1)  # then left idle one second past its limit: it has ended
    assert coordinators.resume(store, settings, cookie) is None


def test_a_session_kept_busy_still_ends_at_its_hard_limit(
        store: Store, settings: Settings, clock: Callable[[float], None]) -> None:
    cookie = coordinators.login(store, settings, "alice", PASSPHRASE)
    hard = settings.session_max_hours * 3600
    step = settings.session_idle_minutes * 60 - 1
    at = 0
    while at + step < hard:
        at += step
        clock(at)
        assert coordinators.resume(store, settings, cookie) is not None
    clock(hard + 1)
    assert coordinators.resume(store, settings, cookie) is None


def test_many_good_logins_in_one_window_give_back_every_count_so_the_next_one_still_works(
        store: Store, settings: Settings, clock: Callable[[float], None]) -> None:
    window = int(START // coordinators.THROTTLE_WINDOW_SECONDS)
    for _ in range(coordinators.THROTTLE_GLOBAL + coordinators.THROTTLED_CHECKS_PER_MINUTE + 3):
        coordinators.login(store, settings, "alice", PASSPHRASE)
    # Nothing of the good logins stays counted, in all or for the handle.
    assert account_rows.throttle_count(store, b"all", window) == 0
    assert coordinators.login(store, settings, "alice", PASSPHRASE)


@pytest.mark.parametrize("handle", ["a" * (coordinators.HANDLE_MAX + 1), "a" * 60, "ñandú", "café-1", "Zoë", "",
                                    "two words", "dot.ted"])
def test_a_handle_too_long_not_ascii_or_with_other_signs_is_refused(store: Store, settings: Settings,
                                                                    handle: str) -> None:
    assert not coordinators.valid_handle(handle)
    with pytest.raises(coordinators.BadHandle):
        coordinators.add_coordinator(store, settings, handle, PASSPHRASE)
    assert account_rows.by_handle(store, handle) is None


@pytest.mark.parametrize("handle", ["a" * coordinators.HANDLE_MAX, "b", "ana-maria_2", "Z9"])
def test_a_handle_of_ascii_letters_digits_dash_and_underscore_up_to_40_is_taken(
        store: Store, settings: Settings, handle: str) -> None:
    assert coordinators.valid_handle(handle)
    assert coordinators.add_coordinator(store, settings, handle, PASSPHRASE).handle == handle


def test_the_passphrase_wrapping_carries_the_argon2_cost_the_config_sets(tmp_path: Path) -> None:
    first = make_instance(tmp_path / "instance")
    config = first.instance / "config.toml"
    text = config.read_text()
    config.write_text(text[: text.index("[argon2]")]
                      + "[argon2]\ntime_cost = 2\nmemory_kib = 16384\nparallelism = 2\ntest_only = true\n")
    settings = load_settings(first.instance)
    add_coordinator(settings)
    with open_store(settings) as store:
        row = account_rows.by_handle(store, "alice")
        assert row is not None
        header = crypto.keys.PASS_HEADER.unpack(row.wrapped_keys[:crypto.keys.PASS_HEADER.size])
        assert header == (b"AK", 1, 16384, 2, 2)  # magic, version, memory KiB, time, lanes
        # And the account opens with its passphrase at that cost.
        assert coordinators.login(store, settings, "alice", PASSPHRASE)
