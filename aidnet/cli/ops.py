"""Operator commands for production: backup, restore, rekey, onion-client, two-step-off."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .. import dates, onion
from ..config import BACKUP_KEY_FILE, Settings, load_settings
from ..records import totp
from ..store import accounts as account_rows
from ..store import backup
from .common import CommandError, Progress, open_instance

Command = Callable[..., argparse.ArgumentParser]


def longest_retention(settings: Settings) -> int:
    """The longest any record is meant to live, in days, by config.toml: backups older than that go."""
    policy = settings.policy
    return max(settings.request_retention_days, policy.closed_days, policy.withdrawn_days, policy.max_extension_days)


def _legacy_key_refusal(instance: Path, backups: Path) -> CommandError:
    """For an instance made before the key left its folder: the exact commands that fix it."""
    legacy = instance / BACKUP_KEY_FILE
    place = instance.resolve().parent / "aidnet-backup.key"
    if place.parent == backups.resolve():
        place = Path.home() / "aidnet-backup.key"
    return CommandError(f"{legacy} sits beside the database it protects: move it out with `mv {legacy} {place}` "
                        f"(and copy it OFF this machine), then run again adding --key-file {place}")


def cmd_backup(args: argparse.Namespace) -> None:
    settings = load_settings(args.instance)
    dest: Path = args.file
    if dest.is_dir():  # a folder (as the timer gives): one backup a day, named by its day
        dest = dest / f"aidnet-{dates.day_to_date(dates.today()).isoformat()}{backup.SUFFIX}"
    if not dest.name.endswith(backup.SUFFIX) or dest.name == backup.SUFFIX:
        raise CommandError(f"name the backup file NAME{backup.SUFFIX} (only such files are ever pruned)")
    backups = dest.parent
    if args.key_file is None:
        if (args.instance / BACKUP_KEY_FILE).exists():
            raise _legacy_key_refusal(args.instance, backups)
        raise CommandError("say where the backup key lives with --key-file PATH, outside the instance folder "
                           "and the backups' folder (it is made there, and shown once, if missing)")
    path = Path(args.key_file)
    problem = backup.key_place_problem(path, args.instance, backups)
    if problem:
        raise CommandError(f"{problem}: choose another --key-file")
    keep_days = longest_retention(settings) if args.keep_days is None else args.keep_days
    if keep_days < 1:
        raise CommandError("--keep-days must be at least 1")
    if not path.exists():
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot make the folder {path.parent}: {exc.strerror}") from None
    key, made = backup.backup_key(path, create=True)
    if made:
        print(f"made a new backup key in {path}")
        if sys.stdout.isatty():  # shown once, on a terminal only: never into a timer's log
            print(f"  the key (shown this once): {key.hex()}")
        print("  copy it somewhere safe OFF this machine: without it no backup can be restored")
    progress = Progress("copying rows")
    version = backup.write_backup(settings, dest, key, progress)
    progress.finish()
    print(f"wrote encrypted backup {dest} (schema {version}; key {path})")
    pruned = backup.prune_backups(backups, key, keep_days, dates.today(), spare=dest)
    for old, day in pruned.deleted:
        print(f"deleted {old} (made {dates.day_to_date(day).isoformat()}, more than {keep_days} days ago)")
    print(f"kept backups of the last {keep_days} days in {backups}; deleted {len(pruned.deleted)}")
    for other in pruned.not_opened:
        print(f"  left {other}: it is not an aidnet backup this key opens")


def cmd_restore(args: argparse.Namespace) -> None:
    # An instance made before the key had to leave its folder still restores from it.
    path = Path(args.key_file) if args.key_file else args.instance / BACKUP_KEY_FILE
    if not path.exists():
        raise CommandError(f"no backup key at {path}; give it with --key-file PATH")
    key, _ = backup.backup_key(path, create=False)
    progress = Progress("copying rows")
    settings = backup.restore_backup(args.file, key, args.instance, args.replace, progress)
    progress.finish()
    print(f"restored {args.file} into {settings.instance} (database key in {settings.instance / 'db.key'})")
    print("  requests withdrawn or expired since the backup are back: run the purge before serving")


# What `aidnet rekey` leaves as it is, one line each, and why (THREAT_MODEL.md "Every secret in the instance").
NOT_REKEYED = (
    "backup.key: not rotated (backups already written stay under the key they were made with; "
    "to start a new one, give the next `aidnet backup` a new --key-file)",
    "export.key: not rotated (it signs published totals; readers check every release against it)",
    "secrets.toml: not rotated (codename_salt derives every requester's codename, a new one would lock them all "
    "out; secret_key signs the CSRF cookie, and a restart with a new one only logs people out of forms)",
    "coordinators' keys and passphrases: not rotated (only their owners can: `aidnet coordinator passphrase "
    "HANDLE`, or \"Rotate your keys\" on the Decisions page)",
    "onion keys: not rotated (they belong to tor, in /var/lib/tor; a new one is a new address)",
)


def cmd_rekey(args: argparse.Namespace) -> None:
    settings = load_settings(args.instance)
    progress = Progress("re-encrypting rows")
    finished_earlier = backup.rekey(settings, progress)
    progress.finish()
    if finished_earlier:
        print(f"db.key: rotated (finished an interrupted rekey of {settings.database})")
    else:
        print(f"db.key: rotated ({settings.database} re-encrypted under a new key in {settings.instance / 'db.key'})")
    print("  copies of the old database file (old backups of the raw file, old disks) still open with the old key")
    for line in NOT_REKEYED:
        print(line)


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
    p.add_argument("file", type=Path, help="NAME.aidbk, or a folder to write aidnet-YYYY-MM-DD.aidbk into")
    p.add_argument("--key-file", help="the backup key, outside the instance folder and the backups' folder "
                                      "(made there, and shown once, if missing)")
    p.add_argument("--keep-days", type=int, default=None,
                   help="delete aidnet backups in FILE's folder older than this (default: the longest retention "
                        "in config.toml)")
    p.set_defaults(func=cmd_backup)
    p = command("restore", help="bring an encrypted backup back (stop the server first)")
    p.add_argument("file", type=Path)
    p.add_argument("--key-file", help="the backup key (default: INSTANCE/backup.key, where instances made before "
                                      "this release kept it)")
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
