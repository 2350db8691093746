"""Operator commands for production: backup, restore, rekey, onion-client, two-step-off."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from .. import onion
from ..config import BACKUP_KEY_FILE, load_settings
from ..records import totp
from ..store import accounts as account_rows
from ..store import backup
from .common import CommandError, Progress, open_instance

Command = Callable[..., argparse.ArgumentParser]


def _key_path(args: argparse.Namespace) -> Path:
    return Path(args.key_file) if args.key_file else args.instance / BACKUP_KEY_FILE


def cmd_backup(args: argparse.Namespace) -> None:
    settings = load_settings(args.instance)
    path = _key_path(args)
    key, made = backup.backup_key(path, create=args.key_file is None)
    if made:
        print(f"made a new backup key in {path}")
        print("  copy it somewhere safe OFF this machine: without it no backup can be restored")
    progress = Progress("copying rows")
    version = backup.write_backup(settings, args.file, key, progress)
    progress.finish()
    print(f"wrote encrypted backup {args.file} (schema {version}; key {path})")


def cmd_restore(args: argparse.Namespace) -> None:
    path = _key_path(args)
    if not path.exists():
        raise CommandError(f"no backup key at {path}; give it with --key-file")
    key, _ = backup.backup_key(path, create=False)
    progress = Progress("copying rows")
    settings = backup.restore_backup(args.file, key, args.instance, args.replace, progress)
    progress.finish()
    print(f"restored {args.file} into {settings.instance} (database key in {settings.instance / 'db.key'})")
    print("  requests withdrawn or expired since the backup are back: run the purge before serving")


def cmd_rekey(args: argparse.Namespace) -> None:
    settings = load_settings(args.instance)
    progress = Progress("re-encrypting rows")
    finished_earlier = backup.rekey(settings, progress)
    progress.finish()
    if finished_earlier:
        print(f"finished an interrupted rekey of {settings.database}")
    else:
        print(f"re-encrypted {settings.database} under a new key in {settings.instance / 'db.key'}")
    print("  copies of the old database file (old backups of the raw file, old disks) still open with the old key")


def cmd_onion_client(args: argparse.Namespace) -> None:
    try:
        auth = onion.new_client_auth(args.name)
        host = onion.onion_host(args.onion) if args.onion else None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.auth_dir:
        path = Path(args.auth_dir) / f"{args.name}.auth"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists already; remove it first to give {args.name} a new key") from None
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from None
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(auth.server_line() + "\n")
        print(f"1. wrote {path}; as root: chown debian-tor: {path} && systemctl reload tor")
    else:
        print("1. On the server, as root, save this line as "
              f"/var/lib/tor/aidnet-coordinator/authorized_clients/{args.name}.auth")
        print("   (owner debian-tor, mode 0600), then: systemctl reload tor")
        print(f"   {auth.server_line()}")
    print(f"2. Give {args.name} this private key, over a safe channel, once; Tor Browser asks for it")
    print("   the first time they open the coordinator address. Nobody else may keep a copy.")
    print(f"   {auth.private_b32}")
    if host:
        print(f"   (for a tor client's ClientOnionAuthDir: {auth.client_line(host)})")


def cmd_two_step_off(args: argparse.Namespace) -> None:
    _settings, store = open_instance(args.instance)
    with store:
        row = account_rows.by_handle(store, args.handle)
        if row is None:
            raise CommandError(f"no coordinator {args.handle}")
        totp.turn_off(store, row.id)
    print(f"two-step login is off for {args.handle}; they log in with their passphrase and can set it up again")


def register(sub: argparse._SubParsersAction, command: Command) -> None:  # type: ignore[type-arg]
    p = command("backup", help="write an encrypted snapshot of the instance (safe while serving)")
    p.add_argument("file", type=Path)
    p.add_argument("--key-file", help="backup key (default: INSTANCE/backup.key, made if missing)")
    p.set_defaults(func=cmd_backup)
    p = command("restore", help="bring an encrypted backup back (stop the server first)")
    p.add_argument("file", type=Path)
    p.add_argument("--key-file", help="backup key (default: INSTANCE/backup.key)")
    p.add_argument("--replace", action="store_true", help="overwrite the instance's current database")
    p.set_defaults(func=cmd_restore)
    command("rekey", help="re-encrypt the database under a new db.key (stop the server first)").set_defaults(
        func=cmd_rekey)
    p = command("onion-client", help="make a client-authorization key pair for the coordinator onion")
    p.add_argument("name", help="who the key is for (a coordinator's handle)")
    p.add_argument("--onion", help="the coordinator onion's address, to print a tor client line too")
    p.add_argument("--auth-dir", help="write NAME.auth into this folder (the coordinator onion's authorized_clients, "
                                      "as root); without it the line is printed for you to save")
    p.set_defaults(func=cmd_onion_client)
    p = command("two-step-off", help="turn off a coordinator's two-step login (lost phone and codes)")
    p.add_argument("handle")
    p.set_defaults(func=cmd_two_step_off)
