"""Every `aidnet` command shown in README.md and docs/ runs, in order, against a scratch instance.

The fenced ```sh blocks of each page are run top to bottom, the way a reader
would paste them: a line is an aidnet command when, past `runuser -u aidnet --`
or a path like `.venv/bin/`, it calls `aidnet`. Other lines (apt-get,
systemctl, install) belong to the tools that own them and are checked there
(tests/test_ops.py). What a reader would adapt is adapted, and nothing else:

- an absolute path (`/var/lib/aidnet/instance`, `/var/backups/...`) is taken
  below the page's scratch folder, which stands for the machine's root;
- `serve` and `demo` get free ports, run until /healthz answers, then stop;
- a passphrase prompt is answered on the terminal (each command runs in a pty);
- GENESIS_HASH, PUBLISHING_KEY and PROPOSAL_ID, which a reader copies from
  their own screen, are filled in from the scratch instance;
- a step the page does in the web pages (a keyholder proposes a member) is
  done here through the same domain functions, just before the command that
  needs it.

Every command in an inline `aidnet …` mention must be one that a block runs,
and every command the parser knows must be in README's commands table.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import shlex
import signal
import subprocess
import termios
import time
import urllib.request
from pathlib import Path

import pytest
from helpers.live import aidnet_command, free_port

import crypto
from aidnet.cli.main import build_parser
from aidnet.config import INSTANCE_FILES, load_settings
from aidnet.decisions import keyholder, membership, proposals
from aidnet.exports import files
from aidnet.records import coordinators
from aidnet.store import accounts as account_rows
from aidnet.store import decision_log as log_rows
from aidnet.store import open_store

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The instance a page's plain `aidnet` lines mean (the one its service uses); else ./instance.
INSTANCE_FOR = {"docs/operations.md": "/var/lib/aidnet/instance"}
PASSPHRASE = "doc test passphrase, long enough"
# What a page's `coordinator passphrase` is answered with at its "New passphrase" prompts (changed back after).
NEW_PASSPHRASE = "doc test passphrase, the new one"
GROUPS = ("coordinator", "log", "keyholder")
FENCE = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`(aidnet [^`]+)`")


def fenced_lines(text: str) -> list[str]:
    lines = []
    for block in FENCE.findall(text):
        lines += [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    return lines


def aidnet_argv(line: str) -> list[list[str]]:
    """The aidnet commands on one shell line (`a && b` may hold more than one), without the program name."""
    found = []
    for part in line.split("&&"):
        words = shlex.split(part, comments=True)
        while words and words[0] in ("runuser", "sudo", "env") or (words and "=" in words[0]):
            if words[0] in ("runuser", "sudo"):
                words = words[words.index("--") + 1:] if "--" in words else words[3:]
            else:
                words = words[1:]
        if words and (words[0] == "aidnet" or words[0].endswith("/aidnet")):
            found.append(words[1:])
    return found


def command_path(argv: list[str]) -> tuple[str, ...]:
    """The subcommand an argv names: ("purge",), ("log", "verify"), ("export", "verify")."""
    argv = [w for w in argv[: next((i for i, w in enumerate(argv) if w.startswith("-")), len(argv))]]
    if not argv:
        return ()
    if argv[0] in GROUPS or (argv[0] == "export" and argv[1:2] == ["verify"]):
        return tuple(argv[:2])
    return (argv[0],)


def parser_commands() -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found.add(path)
        for sub in subs:
            if path and path[0] == "export":
                found.add(path)  # `export` runs by itself, and has `verify` beneath it
            for name, child in sub.choices.items():
                walk(child, (*path, name))

    walk(build_parser(), ())
    return found


class Page:
    """One page's commands run in order in its own scratch root."""

    def __init__(self, page: Path, root: Path) -> None:
        self.name = str(page.relative_to(ROOT))
        self.root = root
        root.mkdir(parents=True)
        self.instance = self.rerooted(INSTANCE_FOR.get(self.name, "instance"))
        self.env = dict(os.environ, AIDNET_INSTANCE=str(self.instance), HOME=str(root))
        self.proposal = ""

    def rerooted(self, value: str) -> Path:
        return self.root / value.lstrip("/") if value.startswith("/") else self.root / value

    def prepare(self, argv: list[str]) -> list[str]:
        out = []
        for i, word in enumerate(argv):
            word = (word.replace("GENESIS_HASH", self.genesis()) if "GENESIS_HASH" in word else word)
            word = word.replace("PUBLISHING_KEY", files.public_key_hex(self.instance) or "") if "PUBLISHING_KEY" in word else word
            word = word.replace("PROPOSAL_ID", self.proposal)
            if word.startswith("/"):
                path = self.rerooted(word)
                (path if i and argv[i - 1] == "--auth-dir" else path.parent).mkdir(parents=True, exist_ok=True)
                word = str(path)
            out.append(word)
        if "--instance" in out:
            self.instance = Path(out[out.index("--instance") + 1])
            self.env["AIDNET_INSTANCE"] = str(self.instance)
        return out

    def genesis(self) -> str:
        return (self.instance / "genesis.pin").read_text().strip()

    def before(self, argv: list[str]) -> None:
        """The web step a page describes in words before this command, done through the domain functions."""
        if self.name == "docs/governance.md" and command_path(argv) == ("log", "bundle"):
            self.olu_joins_and_a_decision_waits()

    def olu_joins_and_a_decision_waits(self) -> None:
        settings = load_settings(self.instance)
        _handle, olu = keyholder.read_keyfile(self.root / "olu.key", PASSPHRASE)
        with open_store(settings) as store:
            founders = [crypto.unwrap_with_passphrase(row.wrapped_keys, PASSPHRASE)
                        for row in account_rows.all_accounts(store)]
            card = membership.parse_member_card(crypto.cards.make_card("olu", olu).to_text())  # as pasted in the web
            joins = proposals.new_proposal("add_member", {"member": card}, founders[0])
            proposals.propose(store, settings, founders[0], joins)
            assert proposals.sign(store, settings, joins["id"], founders[1])
            waiting = proposals.new_proposal("set_quorum", {"quorum": 3}, founders[0])
            assert not proposals.propose(store, settings, founders[0], waiting)
            self.proposal = waiting["id"]

    def after(self, argv: list[str]) -> None:
        if command_path(argv) == ("coordinator", "passphrase"):  # back, for the commands after it on the page
            settings = load_settings(self.instance)
            with open_store(settings) as store:
                coordinators.change_passphrase(store, settings, argv[2], NEW_PASSPHRASE, PASSPHRASE)
        if self.name == "docs/governance.md" and command_path(argv) == ("log", "import"):
            with open_store(load_settings(self.instance)) as store:
                assert log_rows.proposal(store, self.proposal).state == "final"  # olu's offline signature counted


def _terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # getpass reads the pty as this command's terminal


def start_in_pty(argv: list[str], page: Page) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = os.openpty()
    process = subprocess.Popen([*aidnet_command(), *argv], stdin=slave, stdout=slave, stderr=slave, cwd=page.root,
                               env=page.env, start_new_session=True, preexec_fn=_terminal)
    os.close(slave)
    return process, master


def converse(process: subprocess.Popen[bytes], master: int, timeout: float, until: object = None) -> str:
    """Read what the command writes, answer passphrase prompts, until it exits (or until() is true)."""
    seen, answered, deadline = b"", 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(until) and until():
            break
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the command closed its terminal: it has ended
                chunk = b""
            if not chunk and process.poll() is not None:
                break
            seen += chunk
            tail = seen[answered:]
            if re.search(rb"[Nn]ew passphrase[^\n]*: $", tail):
                os.write(master, NEW_PASSPHRASE.encode() + b"\n")
                answered = len(seen)
            elif re.search(rb"[Pp]assphrase[^\n]*: $", tail):
                os.write(master, PASSPHRASE.encode() + b"\n")
                answered = len(seen)
        elif process.poll() is not None:
            break
    return seen.decode("utf-8", "replace")


def run_one(argv: list[str], page: Page) -> None:
    if argv[0] in ("serve", "demo"):
        argv = serve_on_free_ports(argv)
        port = argv[argv.index("--port") + 1]
        process, master = start_in_pty(argv, page)
        try:
            output = converse(process, master, 90, until=lambda: healthy(port))
            assert healthy(port), f"{page.name}: aidnet {shlex.join(argv)} did not start: {output[-1500:]}"
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)
            os.close(master)
        assert process.returncode in (0, 130), f"{page.name}: aidnet {shlex.join(argv)} ended {process.returncode}"
        return
    process, master = start_in_pty(argv, page)
    try:
        output = converse(process, master, 180)
        process.wait(timeout=30)
    finally:
        os.close(master)
    assert process.returncode == 0, f"{page.name}: aidnet {shlex.join(argv)} failed: {output[-1500:]}"


def serve_on_free_ports(argv: list[str]) -> list[str]:
    argv = list(argv)
    for option in ("--port", "--coordinator-port"):
        if option in argv:
            argv[argv.index(option) + 1] = str(free_port())
    if "--port" not in argv:
        argv += ["--port", str(free_port())]
    return argv


def healthy(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def commands_on(page: Path) -> list[list[str]]:
    return [argv for line in fenced_lines(page.read_text()) for argv in aidnet_argv(line)]


@pytest.mark.parametrize("page", [p for p in PAGES if commands_on(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_on_the_page_runs(page: Path, tmp_path: Path) -> None:
    commands = commands_on(page)
    scratch = Page(page, tmp_path / "root")
    for argv in commands:
        argv = scratch.prepare(argv)
        scratch.before(argv)
        run_one(argv, scratch)
        scratch.after(argv)


def test_every_command_mentioned_is_one_a_page_runs() -> None:
    run = {command_path(argv) for page in PAGES for argv in commands_on(page)}
    known = parser_commands()
    mentioned = set()
    for page in PAGES:
        for text in INLINE.findall(FENCE.sub("", page.read_text())):
            path = command_path([w for w in text.split()[1:] if not w.isupper()])  # HANDLE, FILE: a reader's own
            if path:
                mentioned.add(path)
    assert mentioned - run == set(), "mentioned in prose but run by no block"
    assert run <= known, f"not commands: {run - known}"


def test_the_readme_lists_every_command() -> None:
    readme = ROOT / "README.md"
    table = readme.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    listed = {command_path(text.split()[1:]) for text in INLINE.findall(table)}
    # `aidnet keyholder keygen` / `read` / `sign`: the group's leaves written after the first.
    listed |= {("keyholder", leaf) for leaf in re.findall(r"/ `(\w+)`", table)}
    assert parser_commands() - listed == set()


def test_the_readme_is_short_and_its_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    blocks = FENCE.findall(readme)
    assert blocks[0].strip() == "sh ops/bootstrap.sh && .venv/bin/aidnet demo"
    assert blocks[1].strip() in (ROOT / ".ci" / "run").read_text()
    for name in INSTANCE_FILES:  # "where data lives" is complete
        assert f"`{name}`" in readme, name


def test_the_two_readme_commands_install_into_different_venvs(tmp_path: Path) -> None:
    """A demo served from .venv keeps answering while the suite reinstalls: the suite has .venv-test to itself."""
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "bootstrap.sh").write_text((ROOT / "ops" / "bootstrap.sh").read_text())
    fake = tmp_path / "fakebin"
    fake.mkdir()
    log = tmp_path / "pip.log"
    (fake / "python3").write_text(  # `python3 -m venv DIR` makes DIR/bin/pip, which only says what it was asked
        '#!/bin/sh\n[ "$1" = -m ] && [ "$2" = venv ] || exit 1\nmkdir -p "$3/bin" "$3/axe/node_modules/axe-core"\n'
        f'printf \'#!/bin/sh\\necho "%s $*" >> {log}\\n\' "$3" > "$3/bin/pip"\n'
        ': > "$3/bin/python"; : > "$3/axe/node_modules/axe-core/axe.min.js"\nchmod +x "$3/bin/pip" "$3/bin/python"\n')
    (fake / "python3").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}")
    for args in ([], ["test"]):
        done = subprocess.run(["sh", "ops/bootstrap.sh", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls == [".venv install -q --disable-pip-version-check .",
                     ".venv-test install -q --disable-pip-version-check -e .[test]"]
    assert ".venv-test/bin/python -m pytest" in (ROOT / "tests" / "run.sh").read_text()
