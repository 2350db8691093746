"""A non-editable `pip install .` carries everything: templates, CSS, catalogues; the app serves from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, pathlib, tempfile
sys.path.insert(0, sys.argv[1])
import aidnet
assert aidnet.__file__.startswith(sys.argv[1]), aidnet.__file__
from aidnet.config import create_instance, load_settings
inst = pathlib.Path(tempfile.mkdtemp()) / "i"
create_instance(inst)
from aidnet.web.app import create_app
app = create_app(load_settings(inst))
client = app.test_client()
for path in ("/", "/status", "/offer", "/coordinator/login"):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert b"<form" in response.data
print("served from", aidnet.__file__)
"""


def test_plain_pip_install_serves_pages(tmp_path: Path) -> None:
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
         "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, PIP_NO_INPUT="1"),
    )
    assert build.returncode == 0, build.stderr[-2000:]
    assert (target / "aidnet" / "templates" / "public" / "index.html").is_file()
    assert (target / "aidnet" / "templates" / "static" / "style.css").is_file()
    probe = subprocess.run([sys.executable, "-c", PROBE, str(target)], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert str(target) in probe.stdout
