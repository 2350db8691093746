"""`aidnet log …`: the decision log on the server (found it, verify it, export it, bundles out, signatures in)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crypto
from crypto import strictjson
from crypto.log import LogError, verify

from .. import dates
from ..decisions import offline
from ..decisions.proposals import genesis_from_accounts, has_genesis
from ..sealing.readers import pinned_genesis, pinned_head
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from .common import CommandError, open_instance, passphrases

Command = Callable[..., argparse.ArgumentParser]


def parse_day(text: str | None) -> int | None:
    try:
        return dates.parse_day(text)
    except ValueError:
        raise CommandError("dates are YYYY-MM-DD") from None


def cmd_genesis(args: argparse.Namespace) -> None:
    _settings, store = open_instance(args.instance)
    with store:
        if has_genesis(store):
            raise CommandError("the log already has a genesis")
        handles = [row.handle for row in account_rows.all_accounts(store)]
        if not handles:
            raise CommandError("add the founding coordinators first (aidnet coordinator add HANDLE)")
        if not 1 <= args.quorum <= len(handles):
            raise CommandError(f"quorum must be between 1 and {len(handles)} (the founders)")
        until = parse_day(args.until)
        founders = list(zip(handles, passphrases(args.passphrase_file, [f"Passphrase of {h}: " for h in handles]),
                            strict=True))
        head = genesis_from_accounts(store, founders, args.quorum, until)
    print(f"genesis written: {', '.join(handles)}; quorum {args.quorum} of {len(handles)}")
    print(f"genesis hash (give it to anyone who verifies the log): {head}")


def report(state: crypto.log.LogState) -> None:
    """What a verified log says now, for a person."""
    active = state.active_members(dates.today())
    print(f"OK: {state.seq + 1} records verify (hash chain, signatures, quorum at each point)")
    print(f"genesis {state.genesis}")
    print(f"head    {state.head}")
    print(f"quorum {state.quorum} of {len(state.members)} members")
    print("new records are sealed to: " + (", ".join(sorted(m.handle for m in active)) or "nobody"))
    for dispute, decision in sorted(state.open_disputes.items()):
        print(f"open dispute {dispute} against decision {decision}")


def read_json(path: str, what: str) -> Any:
    """A file read strictly (crypto.strictjson): a key twice, a float or deep nesting is refused in one line."""
    try:
        return strictjson.loads(Path(path).read_bytes())
    except OSError:
        raise CommandError(f"cannot read {what} {path}") from None
    except strictjson.StrictJSONError as exc:
        raise CommandError(f"FAILED: {path} is not a {what}: {exc}") from None


def cmd_verify(args: argparse.Namespace) -> None:
    genesis, head = args.genesis, args.head
    try:
        if args.file:
            if not genesis:
                raise CommandError("say which group's log this is: --genesis HASH (the hash its keyholders keep)")
            records = read_json(args.file, "log file")
            if not isinstance(records, list):
                raise CommandError(f"FAILED: {args.file} is not a log (a list of records)")
        else:
            _settings, store = open_instance(args.instance)
            with store:
                records = log_rows.records(store)
                genesis = genesis or pinned_genesis(store)
                head = head or pinned_head(store)
        state = verify(records, genesis, head)
    except LogError as exc:
        raise CommandError(f"FAILED: {exc}") from None
    report(state)


def cmd_export(args: argparse.Namespace) -> None:
    _settings, store = open_instance(args.instance)
    with store:
        records = log_rows.records(store)
    Path(args.file).write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
    print(f"wrote {len(records)} records to {args.file}")


def cmd_bundle(args: argparse.Namespace) -> None:
    settings, store = open_instance(args.instance)
    with store:
        row = account_rows.by_handle(store, args.signer)
        if row is None:
            raise CommandError(f"no coordinator {args.signer}")
        passphrase = passphrases(args.passphrase_file, [f"Passphrase for {args.signer}: "])[0]
        try:
            keys = crypto.unwrap_with_passphrase(row.wrapped_keys, passphrase)
        except crypto.CryptoError:
            raise CommandError(f"that is not the passphrase of {args.signer}") from None
        bundle = offline.signed_bundle(store, settings, keys)
    Path(args.file).write_text(json.dumps(bundle), encoding="utf-8")
    print(f"wrote bundle {args.file}: {len(bundle['pending'])} pending decisions, {len(bundle['sealed'])} sealed records")
    print(f"  signed by {args.signer}; the keyholder tool reads it until {dates.day_to_date(bundle['expires'])}, "
          "then refuses it: delete it then")


def cmd_import(args: argparse.Namespace) -> None:
    items = read_json(args.file, "signatures file")
    settings, store = open_instance(args.instance)
    with store:
        accepted, refused, final = offline.import_signatures(store, settings, items if isinstance(items, list) else [])
    print(f"signatures accepted {accepted}, refused {refused}; decisions now final {final}")
    if refused:
        raise CommandError(f"{refused} signatures were refused")


def register(sub: argparse._SubParsersAction, command: Command) -> None:  # type: ignore[type-arg]
    log_parser = sub.add_parser("log", help="the community decision log")
    log_sub = log_parser.add_subparsers(dest="action", required=True)
    p = command("genesis", log_sub, help="found the log: every coordinator account so far, and a quorum")
    p.add_argument("--quorum", type=int, required=True)
    p.add_argument("--until", help="last day of the founders' term (YYYY-MM-DD)")
    p.add_argument("--passphrase-file", help="one passphrase per line, founders in the order they were added")
    p.set_defaults(func=cmd_genesis)
    p = command("verify", log_sub, help="check the instance's log (against its pins), or an exported FILE")
    p.add_argument("file", nargs="?")
    p.add_argument("--genesis", help="the genesis hash you expect (needed with a FILE)")
    p.add_argument("--head", help="a head you saw before: the log must still hold it (nothing cut off or replaced)")
    p.set_defaults(func=cmd_verify)
    p = command("export", log_sub, help="write the log to FILE")
    p.add_argument("file")
    p.set_defaults(func=cmd_export)
    p = command("bundle", log_sub, help="write a bundle for an offline keyholder to FILE, signed by a member")
    p.add_argument("file")
    p.add_argument("--as", dest="signer", required=True, metavar="HANDLE",
                   help="the member whose keys sign the bundle (asks for their passphrase)")
    p.add_argument("--passphrase-file", help="read that passphrase from FILE ('-' for stdin)")
    p.set_defaults(func=cmd_bundle)
    p = command("import", log_sub, help="bring in signatures made offline")
    p.add_argument("file")
    p.set_defaults(func=cmd_import)
