"""`aidnet log …` (the decision log on the server) and `aidnet keyholder …` (offline, files only)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crypto
from crypto.log import LogError, verify

from . import keyholder

Command = Callable[..., argparse.ArgumentParser]


class LogCommandError(Exception):
    """One line saying why a log or keyholder command cannot go on."""


def _passphrases(source: str | None, handles: list[str]) -> list[str]:
    if source:
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise LogCommandError(f"cannot read passphrases from {source}") from None
        lines = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
        if len(lines) < len(handles):
            raise LogCommandError(f"need {len(handles)} passphrase lines, one per founder, got {len(lines)}")
        return lines[: len(handles)]
    return [getpass.getpass(f"Passphrase of {h}: ") for h in handles]


def _day(text: str | None) -> int | None:
    from .dates import parse_day

    try:
        return parse_day(text)
    except ValueError:
        raise LogCommandError("dates are YYYY-MM-DD") from None


def _store(args: argparse.Namespace) -> Any:
    from .cli import _open
    from .config import load_settings

    return _open(load_settings(args.instance))


def cmd_genesis(args: argparse.Namespace) -> None:
    from . import governance

    store = _store(args)
    try:
        if governance.has_genesis(store):
            raise LogCommandError("the log already has a genesis")
        handles = [r[0] for r in store.conn.execute("SELECT handle FROM coordinators ORDER BY id")]
        if not handles:
            raise LogCommandError("add the founding coordinators first (aidnet coordinator add HANDLE)")
        if not 1 <= args.quorum <= len(handles):
            raise LogCommandError(f"quorum must be between 1 and {len(handles)} (the founders)")
        founders = list(zip(handles, _passphrases(args.passphrase_file, handles), strict=True))
        head = governance.genesis_from_accounts(store, founders, args.quorum, _day(args.until))
    except LogError as exc:
        raise LogCommandError(str(exc)) from None
    finally:
        store.close()
    print(f"genesis written: {', '.join(handles)}; quorum {args.quorum} of {len(handles)}")
    print(f"genesis hash (give it to anyone who verifies the log): {head}")


def _report(state: crypto.log.LogState) -> None:
    from .dates import today

    active = state.active_members(today())
    print(f"OK: {state.seq + 1} records verify (hash chain, signatures, quorum at each point)")
    print(f"genesis {state.genesis}")
    print(f"head    {state.head}")
    print(f"quorum {state.quorum} of {len(state.members)} members")
    print("new records are sealed to: " + (", ".join(sorted(m.handle for m in active)) or "nobody"))
    for dispute, decision in sorted(state.open_disputes.items()):
        print(f"open dispute {dispute} against decision {decision}")


def cmd_verify(args: argparse.Namespace) -> None:
    if args.file:
        try:
            records = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise LogCommandError(f"cannot read log file {args.file}") from None
        if not isinstance(records, list):
            raise LogCommandError(f"FAILED: {args.file} is not a log (a list of records)")
    else:
        from . import logstore

        store = _store(args)
        try:
            records = logstore.records(store)
        finally:
            store.close()
    try:
        state = verify(records, args.genesis)
    except LogError as exc:
        raise LogCommandError(f"FAILED: {exc}") from None
    _report(state)


def cmd_export(args: argparse.Namespace) -> None:
    from . import logstore

    store = _store(args)
    try:
        records = logstore.records(store)
    finally:
        store.close()
    Path(args.file).write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
    print(f"wrote {len(records)} records to {args.file}")


def cmd_bundle(args: argparse.Namespace) -> None:
    from . import offline

    store = _store(args)
    try:
        bundle = offline.export_bundle(store)
    finally:
        store.close()
    Path(args.file).write_text(json.dumps(bundle), encoding="utf-8")
    print(f"wrote bundle {args.file}: {len(bundle['pending'])} pending decisions, {len(bundle['sealed'])} sealed records")


def cmd_import(args: argparse.Namespace) -> None:
    from . import offline

    try:
        items = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise LogCommandError(f"cannot read signatures file {args.file}") from None
    store = _store(args)
    try:
        accepted, refused, final = offline.import_signatures(store, items if isinstance(items, list) else [])
    finally:
        store.close()
    print(f"signatures accepted {accepted}, refused {refused}; decisions now final {final}")
    if refused:
        raise LogCommandError(f"{refused} signatures were refused")


def _one_passphrase(source: str | None, prompt: str) -> str:
    return _passphrases(source, ["x"])[0] if source else getpass.getpass(prompt)


def cmd_keygen(args: argparse.Namespace) -> None:
    passphrase = _one_passphrase(args.passphrase_file, "Passphrase to protect the new key file: ")
    if len(passphrase) < 12:
        raise LogCommandError("passphrase must be at least 12 characters")
    card = keyholder.write_keyfile(Path(args.out), args.handle, passphrase)
    print(f"wrote key file {args.out} (keep it on this computer)")
    print(f"key fingerprint (compare it on the Decisions page before anyone signs): {keyholder.fingerprint(card.split(':')[4])}")
    print("member card (paste it into a membership proposal):")
    print(card)


def cmd_read(args: argparse.Namespace) -> None:
    bundle, state = keyholder.load_bundle(Path(args.bundle), args.genesis)
    _, keys = keyholder.read_keyfile(Path(args.keys), _one_passphrase(args.passphrase_file, "Key file passphrase: "))
    _report(state)
    for proposal in bundle.get("pending", []):
        print("pending: " + keyholder.describe(proposal))
        note = keyholder.open_note(bundle, proposal, keys)
        if note:
            print(f"  note: {note}")
    for record in keyholder.open_records(bundle, keys):
        print(f"{record['table']} {record['id']}: {record['text']}")


def cmd_sign(args: argparse.Namespace) -> None:
    bundle, state = keyholder.load_bundle(Path(args.bundle), args.genesis)
    _, keys = keyholder.read_keyfile(Path(args.keys), _one_passphrase(args.passphrase_file, "Key file passphrase: "))
    pending = {p["id"]: p for p in bundle.get("pending", [])}
    chosen = list(pending) if args.all else (args.proposal or [])
    if not chosen:
        raise LogCommandError("name what you sign: --proposal ID (repeatable), or --all after reading them all")
    signatures = keyholder.sign_pending(bundle, state, keys, chosen)
    for pid in chosen:
        print("signing: " + keyholder.describe(pending[pid]))
    Path(args.out).write_text(json.dumps(signatures), encoding="utf-8")
    print(f"wrote {len(signatures)} signatures to {args.out}; bring them back with the upload form or `aidnet log import`")


def register(sub: argparse._SubParsersAction, command: Command) -> None:  # type: ignore[type-arg]
    log_parser = sub.add_parser("log", help="the community decision log")
    log_sub = log_parser.add_subparsers(dest="action", required=True)
    p = command("genesis", log_sub, help="found the log: every coordinator account so far, and a quorum")
    p.add_argument("--quorum", type=int, required=True)
    p.add_argument("--until", help="last day of the founders' term (YYYY-MM-DD)")
    p.add_argument("--passphrase-file", help="one passphrase per line, founders in the order they were added")
    p.set_defaults(func=cmd_genesis)
    p = command("verify", log_sub, help="check the instance's log, or an exported FILE (no database needed)")
    p.add_argument("file", nargs="?")
    p.add_argument("--genesis", help="the genesis hash you expect")
    p.set_defaults(func=cmd_verify)
    p = command("export", log_sub, help="write the log to FILE")
    p.add_argument("file")
    p.set_defaults(func=cmd_export)
    p = command("bundle", log_sub, help="write a bundle for an offline keyholder to FILE")
    p.add_argument("file")
    p.set_defaults(func=cmd_bundle)
    p = command("import", log_sub, help="bring in signatures made offline")
    p.add_argument("file")
    p.set_defaults(func=cmd_import)

    kh = sub.add_parser("keyholder", help="offline keyholder tools (files only, no server)")
    kh_sub = kh.add_subparsers(dest="action", required=True)
    p = command("keygen", kh_sub, help="make your keys on this computer")
    p.add_argument("--handle", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--passphrase-file")
    p.set_defaults(func=cmd_keygen)
    for name, func, text in (("read", cmd_read, "verify a bundle's log and read what is sealed to you"),
                             ("sign", cmd_sign, "sign the bundle's pending decisions")):
        p = command(name, kh_sub, help=text)
        p.add_argument("bundle")
        p.add_argument("--keys", required=True)
        p.add_argument("--genesis")
        p.add_argument("--passphrase-file")
        if name == "sign":
            p.add_argument("--out", required=True)
            p.add_argument("--proposal", action="append", help="sign this pending decision (repeatable)")
            p.add_argument("--all", action="store_true", help="sign every pending decision in the bundle")
        p.set_defaults(func=func)
