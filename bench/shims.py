"""What bench/granian_serve.py and bench/waitress_serve.py share: the command line and the app they serve.

Each starts like `aidnet serve` (`serve --instance DIR --port P --workers N`), so bench/run.py can start it
in its place, and serves the app `aidnet serve` builds, without its log filter, gc.freeze() and stop on a
refused fsync (none of which the bench reaches). Neither server is a dependency of aidnet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def serve_arguments(doc: str, workers: int) -> argparse.ArgumentParser:
    """`serve --instance DIR --port P --workers N`, as bench/run.py starts `aidnet serve`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--instance", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=workers)
    return parser


def not_installed(module: str) -> str:
    return (f"{module} is not installed for {sys.executable}: pip install {module} "
            "(a bench comparison; aidnet does not use it)")


def app_for(instance: Path) -> Any:
    """The app `aidnet serve` runs on a single port, for the instance at `instance`."""
    from aidnet.config import load_settings
    from aidnet.records.budget import IntakeBudget
    from aidnet.store import Durability
    from aidnet.web.app import create_app

    # Each process counts the intake budget alone (bench/run.py gives the bench room for all it sends).
    return create_app(load_settings(instance), durability=Durability(), budget=IntakeBudget())
