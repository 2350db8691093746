"""Period keys: records sealed to the month's key, its secret sealed to the readers; shredding by destroying it.

Each attack an operator holding the whole instance folder could try is performed: a key of their own, a key
signed for other readers, a signed key with another sealed secret, a key kept past a removal. And the promise
itself: once a past month's last record is gone, its key goes, and a copy of one of its records kept anywhere
(an old bundle, a saved envelope) no longer opens with any member's key.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest
from helpers.group import Group, details, reader

import crypto
from aidnet import dates
from aidnet.decisions import keyholder, offline
from aidnet.records import conversation, requests, retention
from aidnet.records.reseal import reseal_all
from aidnet.sealing import periods, readers
from aidnet.sealing.reseal import reseal_period_secrets
from aidnet.store import periods as period_rows
from aidnet.store import requests as request_rows
from crypto import envelope
from crypto import periods as period_crypto


@pytest.fixture
def g(tmp_path: Path) -> Group:
    group = Group(tmp_path, ["ana", "ben", "cai"], quorum=1)
    yield group
    group.close()


def _newest(g: Group) -> request_rows.RequestRow:
    return request_rows.page(g.store, 0, 1)[0]


def _submit(g: Group, need: str = "tins of beans") -> str:
    return requests.submit_request(g.store, g.settings, details(need), secrets.token_hex(16))


def _opens(g: Group, row: request_rows.RequestRow, opener: bytes | crypto.Keyring) -> bool:
    try:
        crypto.open_envelope(row.envelope, row.id, requests.KIND_REQUEST, opener)
    except crypto.CryptoError:
        return False
    return True


def _day_in(month: str, day: int = 15) -> int:
    year, number = (int(part) for part in month.split("-"))
    return (dt.date(year, number, day) - dt.date(1970, 1, 1)).days


# --- the envelope: one slot for the period key, the hint bound to the header ------------------------------------------


def test_a_record_sealed_to_a_period_key_opens_with_its_secret_and_not_with_the_hint_changed() -> None:
    period = crypto.generate_keypair()
    hint = period_crypto.hint_of(period.box_public)
    record_id = secrets.token_bytes(16)
    sealed = crypto.seal(b"rent for march", record_id, "request", [period.box_public], hint=hint)
    assert envelope.version_of(sealed) == envelope.VERSION_3 and crypto.key_hint(sealed) == hint
    ring = crypto.Keyring(crypto.generate_keypair().box_secret, {hint: period.box_secret}.get)
    assert crypto.open_envelope(sealed, record_id, "request", ring) == b"rent for march"
    moved = sealed[:4] + bytes([sealed[4] ^ 1]) + sealed[5:]  # the hint changed: the header no longer matches
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(moved, record_id, "request", period.box_secret)
    with pytest.raises(crypto.KeyFormatError):
        crypto.seal(b"x", record_id, "request", [period.box_public], hint=b"short")


def test_an_envelope_no_longer_shows_how_many_read_it(tmp_path: Path) -> None:
    sizes = []
    for names in (["ana", "ben"], ["ana", "ben", "cai", "dee", "eve"]):
        group = Group(tmp_path / str(len(names)), names, quorum=1)
        assert periods.ensure(group.store, group.keys["ana"])
        _submit(group)
        row = _newest(group)
        assert crypto.recipient_count(row.envelope) == 1
        sizes.append(len(row.envelope))
        group.close()
    assert sizes[0] == sizes[1]


# --- which key new records are sealed to --------------------------------------------------------------------------------


def test_a_member_makes_the_month_s_key_and_new_records_are_sealed_to_it(g: Group) -> None:
    _submit(g, "before any period key")
    assert envelope.version_of(_newest(g).envelope) == envelope.VERSION  # to the readers directly
    today = dates.today()
    assert periods.ensure(g.store, g.keys["ana"]) == [periods.month(today), periods.next_month(today)]
    assert periods.ensure(g.store, g.keys["ben"]) == []  # one is in force already
    _submit(g, "after")
    row = _newest(g)
    key = period_rows.for_period(g.store, periods.month(today))[0]
    assert crypto.key_hint(row.envelope) == key.hint and crypto.recipient_count(row.envelope) == 1
    for name in ("ana", "ben", "cai"):
        assert _opens(g, row, reader(g.store, g.keys[name]))
        assert not _opens(g, row, g.keys[name].box_secret)  # the member's key alone opens only the period secret
    assert not _opens(g, row, reader(g.store, crypto.generate_keypair()))


def test_an_account_that_is_not_a_member_makes_no_key(g: Group) -> None:
    assert periods.ensure(g.store, crypto.generate_keypair()) == []
    assert period_rows.every(g.store) == []


def _write(g: Group, key: period_crypto.PeriodKey) -> None:
    with g.store.write() as tx:
        period_rows.add(tx, key)
    periods.forget()


def test_a_key_the_operator_writes_is_never_sealed_to(g: Group) -> None:
    """The operator makes a period key of their own (signed by a key of their own, or by nobody at all), a
    member's key for readers that include the operator, and a member's key with another sealed secret put
    in: new records keep being sealed to the readers themselves, and the operator's secret opens none."""
    state = readers.current(g.store)
    month = periods.month(dates.today())
    operator = crypto.generate_keypair()
    today_readers = state.recipients(dates.today())
    own = period_crypto.make(operator, state.genesis, month, today_readers)
    # signed by a member, sealed and stated for the readers plus the operator
    widened = period_crypto.make(g.keys["ana"], state.genesis, month, [*today_readers, operator.box_public])
    # a member's honest key, whose sealed secret the operator swaps for one sealed to themself
    honest = period_crypto.make(g.keys["ana"], state.genesis, month, today_readers)
    stolen_secret = crypto.generate_keypair()
    swapped = period_crypto.PeriodKey(
        period_crypto.hint_of(stolen_secret.box_public), stolen_secret.box_public,
        period_crypto.seal_secret(stolen_secret.box_secret, [operator.box_public]), honest.statement, honest.signature)
    another_group = period_crypto.make(g.keys["ana"], "ab" * 32, month, today_readers)
    for forged in (own, widened, swapped, another_group):
        _write(g, forged)
        _submit(g, "sealed while a forged key is stored")
        row = _newest(g)
        assert envelope.version_of(row.envelope) == envelope.VERSION, "a forged period key was sealed to"
        assert not _opens(g, row, reader(g.store, operator))
        assert _opens(g, row, g.keys["ben"].box_secret)


def test_a_statement_changed_in_any_part_does_not_hold(g: Group) -> None:
    state = readers.current(g.store)
    key = period_crypto.make(g.keys["ana"], state.genesis, "2026-12", state.recipients(dates.today()))
    assert period_crypto.checked(key)["signer"] == g.keys["ana"].sign_public.hex()
    changed = key.statement.replace(b"2026-12", b"2027-01")
    for bad in (period_crypto.PeriodKey(key.hint, key.public, key.sealed, changed, key.signature),
                period_crypto.PeriodKey(key.hint, key.public, key.sealed + b"\x00", key.statement, key.signature),
                period_crypto.PeriodKey(key.hint, key.public, key.sealed, key.statement, bytes(64)),
                period_crypto.PeriodKey(key.hint, key.public, key.sealed, b'{"v":1}', key.signature),
                period_crypto.PeriodKey(key.hint, key.public, key.sealed, b"[1,", key.signature)):
        with pytest.raises(period_crypto.PeriodKeyError):
            period_crypto.checked(bad)


# --- a membership change: one secret per period, and the removed member shut out -------------------------------------


def test_a_removal_takes_the_key_out_of_force_and_the_reseal_touches_one_secret_per_period(g: Group) -> None:
    assert periods.ensure(g.store, g.keys["ana"])
    codenames = [_submit(g, f"open {i}") for i in range(5)]
    assert len(codenames) == 5
    cai = g.keys["cai"]
    g.decide("remove_member", {"sign": cai.sign_public.hex()}, ["ana"])
    _submit(g, "after the removal, before any re-seal")
    row = _newest(g)
    assert envelope.version_of(row.envelope) == envelope.VERSION  # the old key was made for cai too
    assert not _opens(g, row, reader(g.store, cai))
    resealed, others = reseal_period_secrets(g.store, g.keys["ana"])
    assert (resealed, others) == (2, 0)  # this month's key and next month's: not the five rows
    for key in period_rows.every(g.store):
        with pytest.raises(crypto.CryptoError):
            period_crypto.open_secret(key.hint, key.public, key.sealed, cai.box_secret)
    done, skipped = reseal_all(g.store, g.keys["ana"])
    assert skipped == 0 and done == 6
    for row in request_rows.page(g.store, 0, 100):
        assert envelope.version_of(row.envelope) == envelope.VERSION_3
        assert not _opens(g, row, reader(g.store, cai))
        assert _opens(g, row, reader(g.store, g.keys["ben"]))
    _submit(g, "after the re-seal")
    newest = _newest(g)
    assert not _opens(g, newest, reader(g.store, cai)) and _opens(g, newest, reader(g.store, g.keys["ben"]))
    in_force = periods.in_force(g.store, readers.current(g.store), readers.readers(g.store)[1])
    assert in_force is not None and crypto.key_hint(newest.envelope) == in_force.hint


def test_a_new_member_reads_the_months_before_once_a_keyholder_reseals(g: Group) -> None:
    assert periods.ensure(g.store, g.keys["ana"])
    _submit(g, "before dee joined")
    dee = crypto.generate_keypair()
    g.decide("add_member", {"member": g.card("dee", dee)}, ["ana"])
    row = _newest(g)
    assert not _opens(g, row, reader(g.store, dee))
    reseal_all(g.store, g.keys["ben"])
    assert _opens(g, request_rows.by_id(g.store, row.id), reader(g.store, dee))


# --- shredding: the key goes with the last record of its month ------------------------------------------------------


def test_a_past_month_s_key_goes_with_its_last_record_and_every_copy_stops_opening(
        g: Group, monkeypatch: pytest.MonkeyPatch) -> None:
    october, november = _day_in("2026-10"), _day_in("2026-11")
    monkeypatch.setattr(dates, "today", lambda: october)
    assert periods.ensure(g.store, g.keys["ana"]) == ["2026-10", "2026-11"]
    erased = _submit(g, "a request of october, erased")
    copy = _newest(g)  # a copy of its row, kept somewhere (a stolen file, a freed page)
    bundle = offline.signed_bundle(g.store, g.settings, g.keys["ana"])  # and an offline keyholder's bundle, downloaded in october
    _submit(g, "another request of october, still open")
    assert _opens(g, copy, reader(g.store, g.keys["ben"]))
    assert conversation.withdraw(g.store, g.settings, erased)
    monkeypatch.setattr(dates, "today", lambda: november)
    assert retention.purge(g.store, g.settings, today=november).period_keys == 0  # october still has a record
    assert _opens(g, copy, reader(g.store, g.keys["ben"]))  # so the erased one's copy still opens: said so
    with g.store.write() as tx:  # the last record of october reaches its last day
        tx.execute("UPDATE requests SET expires_day = ?", (november - 1,))
    assert retention.purge(g.store, g.settings, today=november).period_keys == 1
    assert [k.period for k in period_rows.every(g.store)] == ["2026-11"]  # this month's stays
    for name in ("ana", "ben", "cai"):
        assert not _opens(g, copy, reader(g.store, g.keys[name]))
    # The bundle carried october's secret, sealed to the members: it is a copy too, until it is deleted
    # (the keyholder tool refuses it once expired).
    assert "a request of october, erased" in keyholder.open_records(bundle, g.keys["ana"])[0]["text"]
    del bundle["periods"]
    assert keyholder.open_records(bundle, g.keys["ana"]) == []


def test_an_offline_keyholder_reads_records_sealed_to_a_period_key(g: Group) -> None:
    assert periods.ensure(g.store, g.keys["ana"])
    _submit(g, "read offline")
    bundle = offline.signed_bundle(g.store, g.settings, g.keys["ana"])
    opened = keyholder.open_records(bundle, g.keys["cai"])
    assert [r["text"] for r in opened if r["table"] == "requests"] and "read offline" in opened[0]["text"]
    assert keyholder.open_records(bundle, crypto.generate_keypair()) == []
