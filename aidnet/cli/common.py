"""What every command shares: one CommandError, the instance's store, passphrases, and progress lines."""

from __future__ import annotations

import getpass
import sys
import time
from pathlib import Path
from typing import TextIO

from ..config import Settings, load_settings
from ..store import Store, open_store

MIN_PASSPHRASE = 12


class CommandError(Exception):
    """A one-line reason a command cannot go on; main() prints it and exits 1."""


def open_instance(instance: Path) -> tuple[Settings, Store]:
    """The instance's settings and a Store on its database, migrated to this release's schema."""
    settings = load_settings(instance)
    store = open_store(settings)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return settings, store


def _terminal_prompt(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for a passphrase on: give it with --passphrase-file FILE "
                           "(or --passphrase-file - to read it from standard input)")
    try:
        return getpass.getpass(prompt)
    except EOFError:
        raise CommandError("no passphrase was typed") from None


def read_lines(source: str, what: str) -> list[str]:
    """The non-empty lines of a file, or of standard input for '-'."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise CommandError(f"cannot read {what} from {source}") from None
    return [line.rstrip("\r") for line in text.splitlines() if line.strip()]


def new_passphrase(source: str | None, who: str, replacing: bool = False) -> str:
    """A passphrase to protect new keys: from a file or stdin, or typed twice at a terminal.

    replacing: it replaces one, and the prompts say "new" so the two are not confused.
    """
    if source:
        lines = read_lines(source, "the passphrase")
        text = lines[0] if lines else ""
    else:
        first, again = ((f"New passphrase for {who}: ", "Same new passphrase again: ") if replacing
                        else (f"Passphrase for {who}: ", "Same passphrase again: "))
        text = _terminal_prompt(first)
        if _terminal_prompt(again) != text:
            raise CommandError("the two passphrases differ")
    if len(text) < MIN_PASSPHRASE:
        raise CommandError(f"passphrase must be at least {MIN_PASSPHRASE} characters")
    return text


def passphrases(source: str | None, prompts: list[str]) -> list[str]:
    """One passphrase per prompt: a line each from a file or stdin, or typed once each at a terminal."""
    if source:
        lines = read_lines(source, "passphrases")
        if len(lines) < len(prompts):
            raise CommandError(f"need {len(prompts)} passphrase lines, one per founder, got {len(lines)}")
        return lines[: len(prompts)]
    return [_terminal_prompt(prompt) for prompt in prompts]


class Progress:
    """How far long work has got: one line rewritten on a terminal, plain lines every tenth otherwise.

    Called as progress(done, total). On a terminal it shows "n of N" and an
    estimate of the time left; in a log, a line at each tenth and at the end.
    """

    def __init__(self, what: str, stream: TextIO | None = None) -> None:
        self.what = what
        self.out: TextIO = stream if stream is not None else sys.stderr
        self.tty = self.out.isatty()
        self.started = time.monotonic()
        self.shown = -1  # the last tenth printed (not on a terminal)
        self.last = 0.0
        self.drew = False

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        now = time.monotonic()
        if self.tty:
            if now - self.last < 0.2 and done < total:
                return
            self.last = now
            self.out.write(f"\r{self.what}: {self._line(done, total, now)}\033[K")
            self.drew = True
            if done >= total:
                self.out.write("\n")
                self.drew = False
        else:
            tenth = done * 10 // total
            if tenth == self.shown:
                return
            self.shown = tenth
            self.out.write(f"{self.what}: {self._line(done, total, now)}\n")
        self.out.flush()

    def _line(self, done: int, total: int, now: float) -> str:
        text = f"{done:,} of {total:,}"
        elapsed = now - self.started
        if 0 < done < total and elapsed > 1:
            left = elapsed * (total - done) / done
            text += f", about {_duration(left)} left"
        return text

    def finish(self) -> None:
        if self.drew:
            self.out.write("\n")
            self.out.flush()
            self.drew = False


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
