"""`aidnet export`, `aidnet export verify` and `aidnet purge`."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ..config import CONFIG_FILE, load_settings
from ..exports import files, periods, releases
from ..records import digest, retention
from .common import CommandError, Progress, open_instance

CommandFactory = Callable[..., argparse.ArgumentParser]


def _fail(reason: str) -> NoReturn:
    raise CommandError(reason)


def cmd_export(args: argparse.Namespace) -> None:
    if args.action == "verify":
        return cmd_verify(args)
    if args.out is None:
        _fail("say where to write the files: --out DIR")
    today = dt.datetime.now(dt.UTC).date()
    try:
        period = args.at or periods.latest_closed(args.period, today)
    except periods.PeriodError as exc:
        _fail(str(exc))
    settings, store = open_instance(args.instance)
    progress = Progress(f"releasing {period}, tables")
    try:
        with store:
            row, made = releases.make_release(store, settings, period, today, progress)
    except files.VerifyError as exc:
        _fail(str(exc))
    finally:
        progress.finish()
    try:
        paths = files.write_files(args.out, row.period, row.manifest, row.csv, row.signature)
    except OSError as exc:
        _fail(f"cannot write to {args.out}: {exc.strerror}")
    print(f"{'released' if made else 'already released (same values)'} {row.period}:")
    for path in paths:
        print(f"    {path}")


def cmd_verify(args: argparse.Namespace) -> None:
    if args.public_key:
        try:
            trusted = bytes.fromhex(args.public_key)
        except ValueError:
            trusted = b""
        if len(trusted) != 32:
            _fail("--public-key must be 64 hex digits")
    else:
        if not (args.instance / CONFIG_FILE).is_file():
            _fail("give the group's publishing key with --public-key HEX (it is on the group's transparency page)")
        key = files.public_key_hex(load_settings(args.instance).instance)
        if key is None:
            _fail(f"{args.instance} has no export key; give the publisher's key with --public-key HEX")
        trusted = bytes.fromhex(str(key))
    try:
        data = files.verify_file(args.file, trusted)
    except files.VerifyError as exc:
        _fail(f"NOT VALID: {exc}")
    print(f"valid: {data['period']} signed by {trusted.hex()}")


def cmd_purge(args: argparse.Namespace) -> None:
    settings, store = open_instance(args.instance)
    progress = Progress("erasing expired requests")
    with store:
        report = retention.purge(store, settings, progress=progress)
    progress.finish()
    print(f"purged {report.requests} requests and {report.offers} offers; {report.shortened} finished or withdrawn "
          f"requests now expire sooner; {report.other} stale sessions and form records removed; "
          f"{report.period_keys} period keys destroyed; WAL checkpointed")


def cmd_digest(args: argparse.Namespace) -> None:
    _settings, store = open_instance(args.instance)
    with store:
        lines = digest.digest(store)
    print("aidnet: " + "; ".join(f"{what}: {count}" for what, count in lines))


def register(sub: argparse._SubParsersAction, command: CommandFactory) -> None:  # type: ignore[type-arg]
    export = command("export", help="write the signed anonymized totals of a closed week or month")
    export.add_argument("--period", choices=("week", "month"), default="week",
                        help="release the last closed week (default) or month")
    export.add_argument("--at", metavar="PERIOD", help="a specific closed period: 2026-W05 or 2026-02")
    export.add_argument("--out", type=Path, help="folder to write the CSV, JSON and signature to")
    export.set_defaults(func=cmd_export, action=None)
    actions = export.add_subparsers(dest="action")
    verify = command("verify", actions, help="check an export's signature and content offline")
    verify.add_argument("file", type=Path, help="the export's .json, .csv or .json.sig file")
    verify.add_argument("--public-key", help="the publisher's export key (hex), as shown on its transparency page")
    verify.set_defaults(func=cmd_export, action="verify")
    command("purge", help="erase what the retention policy says is due").set_defaults(func=cmd_purge)
    command("digest", help="counts only, in buckets, for a timer to send to the coordinators: never what or where"
            ).set_defaults(func=cmd_digest)

