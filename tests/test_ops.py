"""The files in ops/ are checked by the tools that will run them: Debian's tor and systemd."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nacl.public

OPS = Path(__file__).resolve().parent.parent / "ops"
VENV_AIDNET = Path(sys.executable).parent / "aidnet"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


def _tor_verify(torrc: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("tor"), "tor missing: ops/bootstrap.sh test installs Debian's tor"
    return _run("tor", "--verify-config", "-f", str(torrc))


def test_shipped_torrc_is_valid_for_tor(tmp_path: Path) -> None:
    done = _tor_verify(OPS / "torrc")
    assert done.returncode == 0 and "Configuration was valid" in done.stdout, done.stdout + done.stderr
    # The check is real: a typo in a defense option fails it.
    broken = tmp_path / "torrc"
    broken.write_text((OPS / "torrc").read_text().replace("HiddenServicePoWDefensesEnabled 1",
                                                          "HiddenServicePoWDefensesEnabled maybe", 1))
    assert _tor_verify(broken).returncode != 0


def _services(torrc: str) -> list[dict[str, list[str]]]:
    services: list[dict[str, list[str]]] = []
    for line in torrc.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        if key == "HiddenServiceDir":
            services.append({})
        if services and key.startswith("HiddenService"):
            services[-1].setdefault(key, []).append(value.strip())
    return services


def test_torrc_public_onion_reaches_only_the_public_port() -> None:
    text = (OPS / "torrc").read_text()
    public, coordinator = _services(text)
    assert public["HiddenServicePort"] == ["80 127.0.0.1:8080"]
    assert coordinator["HiddenServicePort"] == ["80 127.0.0.1:8081"]
    for service in (public, coordinator):
        assert service["HiddenServicePoWDefensesEnabled"] == ["1"]
        assert service["HiddenServiceEnableIntroDoSDefense"] == ["1"]
    assert re.search(r"^SocksPort 0$", text, re.M)
    # The unit starts aidnet with the same split.
    unit = (OPS / "aidnet.service").read_text()
    assert "--port 8080 --coordinator-port 8081" in unit and "--host 127.0.0.1" in unit


def _unit_for_checks(tmp_path: Path) -> Path:
    """The shipped unit, with only its install path pointed at this checkout's aidnet (verify needs it to exist)."""
    text = (OPS / "aidnet.service").read_text()
    assert "/opt/aidnet/.venv/bin/aidnet" in text
    unit = tmp_path / "aidnet.service"
    unit.write_text(text.replace("/opt/aidnet/.venv/bin/aidnet", str(VENV_AIDNET)))
    return unit


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    done = _run("systemd-analyze", "verify", "--man=no", str(_unit_for_checks(tmp_path)))
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stdout + done.stderr


def test_unit_exposure_is_at_most_2(tmp_path: Path) -> None:
    done = _run("systemd-analyze", "security", "--offline=true", "--no-pager", str(_unit_for_checks(tmp_path)))
    match = re.search(r"Overall exposure level for aidnet\.service: (\d+\.\d)", done.stdout)
    assert match, done.stdout[-500:] + done.stderr
    assert float(match.group(1)) <= 2.0, done.stdout
    # The command's own gate agrees (threshold is in tenths).
    gated = _run("systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager",
                 str(_unit_for_checks(tmp_path)))
    assert gated.returncode == 0
    text = (OPS / "aidnet.service").read_text()
    for setting in ("User=aidnet", "UMask=0077", "StateDirectoryMode=0700", "IPAddressAllow=localhost",
                    "ExecReload=/bin/kill -HUP $MAINPID"):
        assert setting in text


def test_dedicated_user_has_no_shell(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    done = _run("systemd-sysusers", f"--root={tmp_path}", str(OPS / "aidnet.sysusers"))
    assert done.returncode == 0, done.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text()
    assert re.search(r"^aidnet:x:\d+:\d+:[^:]*:/var/lib/aidnet:/usr/sbin/nologin$", passwd, re.M), passwd


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return _run(str(VENV_AIDNET), *args)


def test_onion_client_key_is_loaded_by_tor(tmp_path: Path) -> None:
    onion = "a" * 56
    done = _run_cli("onion-client", "alice", "--onion", f"http://{onion}.onion/")
    assert done.returncode == 0, done.stderr
    server_line = re.search(r"^\s+(descriptor:x25519:[A-Z2-7]{52})$", done.stdout, re.M)
    client_line = re.search(rf" {onion}:descriptor:x25519:([A-Z2-7]{{52}})\)$", done.stdout, re.M)
    assert server_line and client_line, done.stdout
    # The private half given to the coordinator is the one whose public half the server lists.
    secret = base64.b32decode(client_line.group(1) + "====")
    public = base64.b32encode(bytes(nacl.public.PrivateKey(secret).public_key)).decode().rstrip("=")
    assert server_line.group(1).endswith(public) and client_line.group(1) in done.stdout.split()
    assert _run_cli("onion-client", "no spaces!").returncode == 1
    assert _run_cli("onion-client", "alice", "--onion", "example.com").returncode == 1

    # Tor itself reads the server half: a tor with no network, one onion service, this client key.
    hs, data = tmp_path / "hs", tmp_path / "data"
    (hs / "authorized_clients").mkdir(parents=True)
    data.mkdir()
    for d in (hs, hs / "authorized_clients", data):
        d.chmod(0o700)
    (hs / "authorized_clients" / "alice.auth").write_text(server_line.group(1) + "\n")
    (hs / "authorized_clients" / "mallory.auth").write_text("descriptor:x25519:NOTAKEY\n")
    log = tmp_path / "tor.log"
    torrc = tmp_path / "torrc"
    torrc.write_text(f"DataDirectory {data}\nSocksPort 0\nDisableNetwork 1\nLog info file {log}\n"
                     f"HiddenServiceDir {hs}\nHiddenServicePort 80 127.0.0.1:9\n")
    tor = subprocess.Popen(["tor", "-f", str(torrc)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if "alice.auth" in text and "mallory.auth" in text and (hs / "hostname").exists():
                break
            time.sleep(0.2)
    finally:
        tor.terminate()
        tor.wait(timeout=10)
    text = log.read_text()
    assert "Loaded a client authorization key file alice.auth" in text, text[-2000:]
    assert "Loaded a client authorization key file mallory.auth" not in text


def test_backup_timer_and_unit_pass_systemd_and_keep_the_key_apart(tmp_path: Path) -> None:
    text = (OPS / "aidnet-backup.service").read_text()
    unit = tmp_path / "aidnet-backup.service"
    unit.write_text(text.replace("/opt/aidnet/.venv/bin/aidnet", str(VENV_AIDNET)))
    (tmp_path / "aidnet-backup.timer").write_text((OPS / "aidnet-backup.timer").read_text())
    done = _run("systemd-analyze", "verify", "--man=no", str(unit), str(tmp_path / "aidnet-backup.timer"))
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stdout + done.stderr
    security = _run("systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager", str(unit))
    assert security.returncode == 0, security.stdout[-500:]
    command = re.search(r"^ExecStart=\S+ (backup .*)$", text, re.M)
    assert command
    words = command.group(1).split()
    key, folder, instance = Path(words[words.index("--key-file") + 1]), Path(words[1]), Path("/var/lib/aidnet/instance")
    # What `aidnet backup` refuses: the key inside the instance folder, or beside the backups.
    assert not key.is_relative_to(instance) and key.parent != folder
    assert f"ReadWritePaths={folder}" in text and "Environment=AIDNET_INSTANCE=/var/lib/aidnet/instance" in text
