"""`aidnet keyholder …`: the offline keyholder's tools, on their own computer, with files only (no server)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from crypto import KeyPair
from crypto.log import pending_problem

from .. import dates
from ..decisions import keyholder
from .common import CommandError, new_passphrase, passphrases
from .log import report

Command = Callable[..., argparse.ArgumentParser]


def _unlock(args: argparse.Namespace) -> KeyPair:
    passphrase = passphrases(args.passphrase_file, ["Key file passphrase: "])[0]
    return keyholder.read_keyfile(Path(args.keys), passphrase)[1]


def cmd_keygen(args: argparse.Namespace) -> None:
    passphrase = new_passphrase(args.passphrase_file, "the new key file")
    card = keyholder.write_keyfile(Path(args.out), args.handle, passphrase)
    print(f"wrote key file {args.out} (keep it on this computer)")
    print(f"card fingerprint (read it out to the keyholders: they compare it before anyone signs): {card.fingerprint}")
    print("member card (paste it into a membership proposal):")
    print(card.to_text())


def cmd_read(args: argparse.Namespace) -> None:
    keys = _unlock(args)
    bundle, state = keyholder.load_bundle(Path(args.bundle), args.genesis, Path(args.keys))
    report(state)
    for item in bundle.get("pending", []):
        proposal = item["proposal"]
        problem = pending_problem(state, proposal, item["signatures"], dates.today())
        print("pending: " + keyholder.describe(proposal, state) + (f"  TAMPERED, cannot be signed: {problem}"
                                                                   if problem else ""))
        note = keyholder.open_note(bundle, proposal, keys)
        if note:
            print(f"  note: {note}")
    for record in keyholder.open_records(bundle, keys):
        print(f"{record['table']} {record['id']}: {record['text']}")


def cmd_sign(args: argparse.Namespace) -> None:
    keys = _unlock(args)
    bundle, state = keyholder.load_bundle(Path(args.bundle), args.genesis, Path(args.keys))
    pending = {p["proposal"]["id"]: p["proposal"] for p in bundle.get("pending", [])}
    chosen = list(pending) if args.all else (args.proposal or [])
    if not chosen:
        raise CommandError("name what you sign: --proposal ID (repeatable), or --all after reading them all")
    signatures = keyholder.sign_pending(bundle, state, keys, chosen,
                                        sealed_up_to=keyholder.last_sealed(Path(args.keys), state.genesis))
    for pid in chosen:
        print("signing: " + keyholder.describe(pending[pid], state))
    if any("seal" in s for s in signatures):  # remembered before it leaves: never two seals for one place
        keyholder.remember_head(Path(args.keys), state, sealed=state.seq + 1)
    Path(args.out).write_text(json.dumps(signatures), encoding="utf-8")
    print(f"wrote {len(signatures)} signatures to {args.out}; bring them back with the upload form or `aidnet log import`")


def register(sub: argparse._SubParsersAction, command: Command) -> None:  # type: ignore[type-arg]
    kh = sub.add_parser("keyholder", help="offline keyholder tools (files only, no server)")
    kh_sub = kh.add_subparsers(dest="action", required=True)
    p = command("keygen", kh_sub, help="make your keys on this computer (asks for the passphrase twice)")
    p.add_argument("--handle", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--passphrase-file", help="read the passphrase from FILE ('-' for stdin)")
    p.set_defaults(func=cmd_keygen)
    for name, func, text in (("read", cmd_read, "verify a bundle's log and read what is sealed to you"),
                             ("sign", cmd_sign, "sign the bundle's pending decisions")):
        p = command(name, kh_sub, help=text)
        p.add_argument("bundle")
        p.add_argument("--keys", required=True)
        p.add_argument("--genesis")
        p.add_argument("--passphrase-file", help="read the passphrase from FILE ('-' for stdin)")
        if name == "sign":
            p.add_argument("--out", required=True)
            p.add_argument("--proposal", action="append", help="sign this pending decision (repeatable)")
            p.add_argument("--all", action="store_true", help="sign every pending decision in the bundle")
        p.set_defaults(func=func)
