"""Export files: deterministic CSV, canonical JSON manifest, Ed25519 signature, offline verify.

The manifest carries the data and the CSV's SHA-256; the signature covers the
manifest's exact bytes. `verify` checks the signature against a public key
the caller trusts (the instance's, or one copied from the transparency
page), then that the CSV is exactly what the manifest says.

The export key is its own Ed25519 key in the instance folder (export.key,
mode 0600), never a coordinator's: publishing totals must not need, or
expose, a key that reads requests.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing

from ..config import EXPORT_KEY_FILE

SIGNATURE_HEADER = "aidnet-export-signature v1"
SCHEMA = 1
WITHHELD = "suppressed"


class VerifyError(Exception):
    """The export does not hold: bad signature, wrong key, or content that does not match."""


def canonical_json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def render_csv(manifest: dict[str, Any]) -> bytes:
    """One line per published number; the same manifest always gives the same bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "table", "category", "area", "value"])
    for table in manifest["tables"]:
        for row, col, value in table["values"]:
            writer.writerow([manifest["period"], table["name"], row, col, WITHHELD if value is None else value])
    money = manifest.get("money")
    for row in money["rows"] if money else ():  # exact money by category (releases.money_month)
        category, budget, received, _why_in, spent, _why_out = row
        for column, value in (("budget", budget), ("received", received), ("spent", spent)):
            shown = "" if column == "budget" and value is None else WITHHELD if value is None else value
            writer.writerow([manifest["period"], "money_month", category, column, shown])
    return out.getvalue().encode("utf-8")


def load_or_create_key(instance: Path) -> nacl.signing.SigningKey:
    """The instance's export signing key, made (0600) on first use."""
    path = instance / EXPORT_KEY_FILE
    if not path.exists():
        # Written whole to a private temp file, then linked into place: a second export
        # starting at the same moment either wins the link or reads the finished key.
        tmp = instance / f".{EXPORT_KEY_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(bytes(nacl.signing.SigningKey.generate()).hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        seed = bytes.fromhex(path.read_text(encoding="ascii").strip())
        return nacl.signing.SigningKey(seed)
    except (ValueError, UnicodeDecodeError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise VerifyError(f"{EXPORT_KEY_FILE} is not a key") from None


def public_key_hex(instance: Path) -> str | None:
    """The export public key if the instance has one (never creates it)."""
    if not (instance / EXPORT_KEY_FILE).exists():
        return None
    return bytes(load_or_create_key(instance).verify_key).hex()


def sign(key: nacl.signing.SigningKey, manifest_bytes: bytes) -> bytes:
    signature = key.sign(manifest_bytes).signature
    return (f"{SIGNATURE_HEADER}\npublic-key: {bytes(key.verify_key).hex()}\n"
            f"signature: {signature.hex()}\n").encode("ascii")


def file_names(period: str) -> tuple[str, str, str]:
    base = f"aidnet-{period}"
    return f"{base}.json", f"{base}.csv", f"{base}.json.sig"


def write_files(out: Path, period: str, manifest: bytes, csv_bytes: bytes, signature: bytes) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in zip(file_names(period), (manifest, csv_bytes, signature), strict=True):
        path = out / name
        tmp = out / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o644)  # published totals: meant to be read by anyone
        os.replace(tmp, path)
        paths.append(path)
    return paths


def parse_signature(text: bytes) -> tuple[bytes, bytes]:
    try:
        lines = text.decode("ascii").splitlines()
        if lines[0] != SIGNATURE_HEADER or not lines[1].startswith("public-key: ") or not lines[2].startswith("signature: "):
            raise ValueError
        return bytes.fromhex(lines[1][12:]), bytes.fromhex(lines[2][11:])
    except (UnicodeDecodeError, ValueError, IndexError):
        raise VerifyError("the signature file is malformed") from None


def verify_bytes(manifest: bytes, csv_bytes: bytes, signature: bytes, trusted_key: bytes) -> dict[str, Any]:
    """The manifest if every check holds; VerifyError naming the first that fails."""
    key, sig = parse_signature(signature)
    if not hmac.compare_digest(key, trusted_key):
        raise VerifyError("signed by a different key than the one trusted")
    try:
        nacl.signing.VerifyKey(trusted_key).verify(manifest, sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise VerifyError("the signature does not match the manifest") from None
    try:
        data = json.loads(manifest.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise VerifyError("the manifest is not JSON") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or canonical_json(data) != manifest:
        raise VerifyError("the manifest is not a schema 1 export in canonical form")
    if hashlib.sha256(csv_bytes).hexdigest() != data.get("csv_sha256"):
        raise VerifyError("the CSV does not match the manifest's checksum")
    try:
        rendered = render_csv(data)
    except (KeyError, TypeError, ValueError):
        raise VerifyError("the manifest's tables are malformed") from None
    if rendered != csv_bytes:
        raise VerifyError("the CSV does not match the manifest's tables")
    return data


def verify_file(path: Path, trusted_key: bytes) -> dict[str, Any]:
    """Verify an export given any of its three files (the others sit beside it)."""
    name = path.name
    for suffix in (".json.sig", ".json", ".csv"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            break
    else:
        raise VerifyError("give the .json, .csv or .json.sig file of an export")
    folder = path.parent
    try:
        manifest = (folder / f"{base}.json").read_bytes()
        csv_bytes = (folder / f"{base}.csv").read_bytes()
        signature = (folder / f"{base}.json.sig").read_bytes()
    except OSError:
        raise VerifyError(f"cannot read {base}.json, {base}.csv and {base}.json.sig in {folder}") from None
    return verify_bytes(manifest, csv_bytes, signature, trusted_key)
