"""A time limit for every test of a module: a loop that never ends fails its test instead of hanging the suite.

    _time_limit = time_limit(15, "a draw that never returns?")   # at the top of a test module

    @pytest.mark.time_limit(150)   # one test that waits on a subprocess of its own: its own limit

SIGALRM, so the limit reaches a loop in pure Python too (the mutation run's mutants are such loops).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest


def time_limit(seconds: int, suspect: str) -> Callable[..., Any]:
    """An autouse fixture failing any test of the module that runs over `seconds`, naming the likely cause."""

    @pytest.fixture(autouse=True, name="_time_limit")
    def limit(request: pytest.FixtureRequest) -> Iterator[None]:
        marker = request.node.get_closest_marker("time_limit")
        allowed = int(marker.args[0]) if marker is not None else seconds
        why = "" if marker is not None else f": {suspect}"

        def too_long(signum: int, frame: object) -> None:
            raise AssertionError(f"the test ran over {allowed} s{why}")

        previous = signal.signal(signal.SIGALRM, too_long)
        signal.alarm(allowed)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    return limit
