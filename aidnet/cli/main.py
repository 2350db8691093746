"""The `aidnet` command: init, coordinator add, serve, demo, and the nouns in the modules beside this one.

Every subcommand takes --instance DIR (or AIDNET_INSTANCE; default ./instance),
prints what it did, and exits 1 with a one-line reason when it cannot.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from pathlib import Path

import crypto

from ..config import CONFIG_FILE, ConfigError, Settings, create_instance, load_settings
from ..decisions.proposals import genesis_from_accounts, has_genesis
from ..errors import Refused
from ..records import coordinators
from ..serve.server import serve
from ..store import StorageError
from ..store import accounts as account_rows
from . import export, keyholder, log, ops
from .common import MIN_PASSPHRASE, CommandError, new_passphrase, open_instance, passphrases, read_lines

DEMO_HANDLE = "demo"


def cmd_init(args: argparse.Namespace) -> None:
    init(args.instance)
    print(f"next: aidnet coordinator add HANDLE --instance {args.instance}")


def init(instance: Path) -> None:
    try:
        made = create_instance(instance)
    except OSError as exc:
        raise CommandError(f"cannot create {instance}: {exc.strerror}") from None
    _settings, store = open_instance(instance)
    store.close()
    for path in made:
        print(f"wrote {path}")
    print(f"created database {instance / 'aidnet.db'} (SQLCipher, key in db.key)")


def _add(instance: Path, handle: str, passphrase: str) -> tuple[bool, str]:
    """Add the account; (the group is founded already, so it reads nothing until a quorum signs; its card's fingerprint)."""
    settings, store = open_instance(instance)
    with store:
        row = coordinators.add_coordinator(store, settings, handle, passphrase)
        return has_genesis(store), crypto.cards.fingerprint(row.handle, row.box_public.hex(), row.sign_public.hex())


def cmd_coordinator_add(args: argparse.Namespace) -> None:
    load_settings(args.instance)  # a missing instance says so before any passphrase is asked
    if not coordinators.valid_handle(args.handle):
        raise CommandError(coordinators.BadHandle.reason)
    founded, fingerprint = _add(args.instance, args.handle, new_passphrase(args.passphrase_file, "the new coordinator"))
    if founded:
        print(f"added account {args.handle}. It reads nothing yet: a keyholder proposes it under Members "
              "and a quorum signs; only then are new requests sealed to it")
    else:
        print(f"added founding coordinator {args.handle}. When all founders are added: "
              f"aidnet log genesis --quorum M --instance {args.instance}")
    print(f"card fingerprint (its owner reads it out; the keyholders compare it before anyone signs): {fingerprint}")


def cmd_coordinator_passphrase(args: argparse.Namespace) -> None:
    settings, store = open_instance(args.instance)
    with store:
        if account_rows.by_handle(store, args.handle) is None:
            raise CommandError(f"no coordinator {args.handle}")
        if args.passphrase_file:  # two lines: the current passphrase, then the new one
            lines = read_lines(args.passphrase_file, "passphrases")
            if len(lines) < 2:
                raise CommandError("need two lines: the current passphrase, then the new one")
            current, new = lines[0], lines[1]
            if len(new) < MIN_PASSPHRASE:
                raise CommandError(f"passphrase must be at least {MIN_PASSPHRASE} characters")
        else:
            current = passphrases(None, [f"Current passphrase for {args.handle}: "])[0]
            new = new_passphrase(None, args.handle, replacing=True)
        try:
            ended = coordinators.change_passphrase(store, settings, args.handle, current, new)
        except coordinators.WrongPassphrase:
            raise CommandError(f"that is not the current passphrase of {args.handle}") from None
        except coordinators.PassphraseTooLong as exc:
            raise CommandError(exc.reason) from None
        except coordinators.WeakPassphrase:
            raise CommandError("the new passphrase must differ from the current one") from None
    print(f"changed the passphrase of {args.handle}: the same keys, wrapped under the new one; "
          f"{ended} session{'s' if ended != 1 else ''} ended")
    print("  backups made before still hold the keys under the old passphrase")


def _url(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "::1", "localhost") else host
    return f"http://{shown}:{port}/"


def _check_port_free(host: str, port: int) -> None:
    """CommandError at once if nothing can listen on host:port (gunicorn would retry for seconds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(f"port {port} is in use (another server is listening there): "
                                   f"choose another with --port") from None
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    coordinator_port = args.coordinator_port
    if coordinator_port is not None and coordinator_port == args.port:
        raise CommandError("--coordinator-port must differ from --port")
    for port in (args.port, coordinator_port):
        if port is not None:
            _check_port_free(args.host, port)
    url = _url(args.host, args.port)
    coordinator_url = f"{_url(args.host, coordinator_port)}coordinator/" if coordinator_port else f"{url}coordinator/"
    print(f"aidnet serving {args.instance} on {url} (coordinators: {coordinator_url}); Ctrl-C stops it", flush=True)
    serve(settings, args.host, args.port, args.workers, coordinator_port)


def cmd_serve(args: argparse.Namespace) -> None:
    settings, store = open_instance(args.instance)
    store.close()
    _serve(args, settings)


def cmd_demo(args: argparse.Namespace) -> None:
    if not (args.instance / CONFIG_FILE).exists():
        init(args.instance)
    settings, store = open_instance(args.instance)
    with store:
        if account_rows.by_handle(store, DEMO_HANDLE) is not None:
            print("demo coordinator exists (its passphrase was printed when it was made)")
        else:
            passphrase = crypto.generate_codename()
            coordinators.add_coordinator(store, settings, DEMO_HANDLE, passphrase)
            if not has_genesis(store):
                # A one-person group: the demo coordinator founds the log with quorum 1 of 1.
                genesis_from_accounts(store, [(DEMO_HANDLE, passphrase)], quorum=1)
            print(f"demo coordinator: handle '{DEMO_HANDLE}', passphrase (shown once):")
            print(f"    {passphrase}")
    coordinators_url = _url(args.host, args.coordinator_port or args.port) + "coordinator/"
    print(f"open {_url(args.host, args.port)} to ask for help as a requester would, and "
          f"{coordinators_url} to log in as '{DEMO_HANDLE}' and answer")
    _serve(args, settings)


def build_parser() -> argparse.ArgumentParser:
    default_instance = Path(os.environ.get("AIDNET_INSTANCE", "instance"))
    parser = argparse.ArgumentParser(prog="aidnet", description="A privacy-first server for mutual aid groups.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, parent: argparse._SubParsersAction = sub, help: str = "") -> argparse.ArgumentParser:  # type: ignore[type-arg]
        p: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        p.add_argument("--instance", type=Path, default=default_instance,
                       help="instance folder (default: $AIDNET_INSTANCE or ./instance)")
        return p

    command("init", help="make a new instance folder with fresh keys").set_defaults(func=cmd_init)
    coord = sub.add_parser("coordinator", help="manage coordinators")
    coord_sub = coord.add_subparsers(dest="action", required=True)
    add = command("add", coord_sub, help="add a coordinator (asks for the passphrase twice)")
    add.add_argument("handle")
    add.add_argument("--passphrase-file", help="read the passphrase from FILE ('-' for stdin)")
    add.set_defaults(func=cmd_coordinator_add)
    change = command("passphrase", coord_sub, help="change a coordinator's passphrase (asks for the current one, "
                                                   "then the new one twice); ends their sessions")
    change.add_argument("handle")
    change.add_argument("--passphrase-file", help="read two lines from FILE ('-' for stdin): the current "
                                                  "passphrase, then the new one")
    change.set_defaults(func=cmd_coordinator_passphrase)
    for name, func, text in (("serve", cmd_serve, "serve the instance"),
                             ("demo", cmd_demo, "init if needed, add a demo coordinator, serve")):
        p = command(name, help=text)
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
        p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
        p.add_argument("--coordinator-port", type=int, default=None,
                       help="serve coordinator pages only on this second port; --port then serves only public pages")
        p.set_defaults(func=func)
    log.register(sub, command)
    keyholder.register(sub, command)
    ops.register(sub, command)
    export.register(sub, command)  # export, export verify, purge
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything aidnet writes (database, WAL, key files, lock) is for its own user alone.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CommandError, Refused, ConfigError, StorageError, crypto.CryptoError) as exc:
        print(f"aidnet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
