"""The `aidnet` command: init, coordinator add, serve, demo.

Every subcommand takes --instance DIR (or AIDNET_INSTANCE; default ./instance),
prints what it did, and exits non-zero with a one-line reason when it cannot.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

import crypto

from . import cli_log, cli_ops, coordinators, export_cli, governance
from .backup import BackupError
from .config import ConfigError, Settings, create_instance, load_settings
from .keyholder import KeyholderError
from .storage import StorageError, Store

MIN_PASSPHRASE = 12


class CommandError(Exception):
    """A one-line reason a command cannot go on."""


def _open(settings: Settings) -> Store:
    store = Store(settings.database, settings.db_key, settings.lock_file)
    store.migrate()
    return store


def _read_passphrase(source: str | None) -> str:
    if source == "-":
        text = sys.stdin.readline().rstrip("\r\n")
    elif source:
        try:
            text = Path(source).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError):
            raise CommandError(f"cannot read passphrase file {source}") from None
    else:
        text = getpass.getpass("Passphrase for the new coordinator: ")
        if getpass.getpass("Same passphrase again: ") != text:
            raise CommandError("the two passphrases differ")
    if len(text) < MIN_PASSPHRASE:
        raise CommandError(f"passphrase must be at least {MIN_PASSPHRASE} characters")
    return text


def cmd_init(args: argparse.Namespace) -> None:
    try:
        made = create_instance(args.instance)
    except OSError as exc:
        raise CommandError(f"cannot create {args.instance}: {exc.strerror}") from None
    store = _open(load_settings(args.instance))
    store.close()
    for path in made:
        print(f"wrote {path}")
    print(f"created database {args.instance / 'aidnet.db'} (SQLCipher, key in db.key)")
    print(f"next: aidnet coordinator add HANDLE --instance {args.instance}")


def _add(settings: Settings, handle: str, passphrase: str) -> None:
    store = _open(settings)
    try:
        coordinators.add_coordinator(store, settings, handle, passphrase)
    except coordinators.HandleTaken:
        raise CommandError(f"coordinator {handle} already exists") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()


def cmd_coordinator_add(args: argparse.Namespace) -> None:
    settings = load_settings(args.instance)
    if not coordinators.valid_handle(args.handle):
        raise CommandError("handle must be letters, digits, - or _ (at most 40)")
    _add(settings, args.handle, _read_passphrase(args.passphrase_file))
    store = _open(settings)
    founded = governance.has_genesis(store)
    store.close()
    if founded:
        print(f"added account {args.handle}. It reads nothing yet: a keyholder proposes it under Members "
              "and a quorum signs; only then are new requests sealed to it")
    else:
        print(f"added founding coordinator {args.handle}. When all founders are added: "
              f"aidnet log genesis --quorum M --instance {args.instance}")


def _url(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "::1", "localhost") else host
    return f"http://{shown}:{port}/"


def cmd_serve(args: argparse.Namespace) -> None:
    from .server import serve

    settings = load_settings(args.instance)
    _open(settings).close()
    url = _url(args.host, args.port)
    coordinator_port = getattr(args, "coordinator_port", None)
    if coordinator_port is not None and coordinator_port == args.port:
        raise CommandError("--coordinator-port must differ from --port")
    coordinator_url = f"{_url(args.host, coordinator_port)}coordinator/" if coordinator_port else f"{url}coordinator/"
    print(f"aidnet serving {args.instance} on {url} (coordinators: {coordinator_url}); Ctrl-C stops it", flush=True)
    serve(settings, args.host, args.port, args.workers, coordinator_port)


def cmd_demo(args: argparse.Namespace) -> None:
    if not (args.instance / "config.toml").exists():
        cmd_init(args)
    settings = load_settings(args.instance)
    store = _open(settings)
    exists = store.coordinator_by_handle("demo") is not None
    store.close()
    if exists:
        print("demo coordinator exists (its passphrase was printed when it was made)")
    else:
        passphrase = crypto.generate_codename()
        _add(settings, "demo", passphrase)
        store = _open(settings)
        try:
            if not governance.has_genesis(store):
                # A one-person group: the demo coordinator founds the log with quorum 1 of 1.
                governance.genesis_from_accounts(store, [("demo", passphrase)], quorum=1)
        finally:
            store.close()
        print("demo coordinator: handle 'demo', passphrase (shown once):")
        print(f"    {passphrase}")
    cmd_serve(args)


def build_parser() -> argparse.ArgumentParser:
    default_instance = Path(os.environ.get("AIDNET_INSTANCE", "instance"))
    parser = argparse.ArgumentParser(prog="aidnet", description="A privacy-first server for mutual aid groups.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, parent: argparse._SubParsersAction = sub, help: str = "") -> argparse.ArgumentParser:  # type: ignore[type-arg]
        p: argparse.ArgumentParser = parent.add_parser(name, help=help)
        p.add_argument("--instance", type=Path, default=default_instance,
                       help="instance folder (default: $AIDNET_INSTANCE or ./instance)")
        return p

    command("init", help="make a new instance folder with fresh keys").set_defaults(func=cmd_init)
    coord = sub.add_parser("coordinator", help="manage coordinators")
    coord_sub = coord.add_subparsers(dest="action", required=True)
    add = command("add", coord_sub, help="add a coordinator (passphrase from a prompt)")
    add.add_argument("handle")
    add.add_argument("--passphrase-file", help="read the passphrase from FILE ('-' for stdin)")
    add.set_defaults(func=cmd_coordinator_add)
    for name, func, text in (("serve", cmd_serve, "serve the instance"),
                             ("demo", cmd_demo, "init if needed, add a demo coordinator, serve")):
        p = command(name, help=text)
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=8080)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--coordinator-port", type=int, default=None,
                       help="serve coordinator pages only on this second port; --port then serves only public pages")
        p.set_defaults(func=func)
    cli_log.register(sub, command)
    cli_ops.register(sub, command)
    export_cli.register(sub, command)  # export, export verify, purge
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything aidnet writes (database, WAL, key files, lock) is for its own user alone.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CommandError, ConfigError, StorageError, cli_log.LogCommandError, KeyholderError,
            BackupError) as exc:
        print(f"aidnet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
