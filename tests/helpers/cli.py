"""Running the real `aidnet` command, as an operator would, in a subprocess."""

from __future__ import annotations

import os
import subprocess

from .live import aidnet_command


def run_aidnet(*args: str, stdin: str = "", env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*aidnet_command(), *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))
