"""A tiny run of bench/ pieces, so the one bench command keeps working.

The slowed-fsync shim is what the group-commit figures in README rest on:
check that it really makes each SQLCipher commit wait.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import run as bench  # noqa: E402

pytestmark = [pytest.mark.server, pytest.mark.serial]

COMMITS = """
import sys, time
sys.path.insert(0, "tests")
from pathlib import Path
from helpers.instance import make_instance
from aidnet.store import open_store
s = make_instance(Path(sys.argv[1]))
store = open_store(s)
store.migrate()
started = time.perf_counter()
for _ in range(5):
    with store.write() as tx:
        tx.execute("INSERT INTO used_forms (nonce_hash, expires_day) VALUES (randomblob(32), 1)")
print(time.perf_counter() - started)
"""


def test_slow_fsync_shim_slows_every_commit(tmp_path: Path) -> None:
    shim = bench.build_shim(tmp_path)
    assert shim is not None and shim.exists()
    env = {"LD_PRELOAD": str(shim), "SLOW_FSYNC_US": "40000", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", COMMITS, str(tmp_path / "slow")], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    assert float(out.stdout.strip()) >= 5 * 0.04  # at least one slowed fsync per commit


def test_ceiling_loop_runs(tmp_path: Path) -> None:
    settings = bench.new_instance(tmp_path, "ceiling")
    started = time.perf_counter()
    assert bench.seal_commit_ceiling(settings, 0.3) > 10
    assert time.perf_counter() - started < 10
    bench.store_requests(settings, 50)


def test_side_by_side_measures_both_workers_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.side_by_side(tmp_path, 1.0, 1) == []
    out = capsys.readouterr().out
    assert "round 1:" in out and "geometric mean, read-first / gthread: rate x" in out


def test_the_interval_of_a_geometric_mean_uses_students_t() -> None:
    assert bench.geometric_interval([1.1]) is None  # one round: no spread to speak of
    mean, low, high = bench.geometric_interval([2.0, 0.5, 2.0, 0.5]) or (0.0, 0.0, 0.0)
    # log ratios +-ln 2: mean 0, sample sd ln 2 x sqrt(4/3), t = 3.18 for 3 degrees of freedom
    half = 3.18 * math.log(2) * math.sqrt(4 / 3) / 2
    assert mean == pytest.approx(1.0) and low == pytest.approx(math.exp(-half)) and high == pytest.approx(math.exp(half))
