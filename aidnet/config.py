"""Instance settings: one folder holds config, secrets, key file and database.

Settings are loaded once at start and frozen; anything missing or malformed
stops the program with a one-line reason rather than running half-configured.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from crypto import Argon2Params

from .onion import onion_host
from .policy import Intake, Policy, parse_intake, parse_policy

# Every file aidnet keeps in an instance folder (README "Where data lives" lists each one).
CONFIG_FILE = "config.toml"
SECRETS_FILE = "secrets.toml"
KEY_FILE = "db.key"
DATABASE_FILE = "aidnet.db"
LOCK_FILE = "write.lock"
# The hash of the decision log's first record, written at genesis, outside the database.
PIN_FILE = "genesis.pin"
# The last head of the log this server verified: a log that does not extend it is refused at start.
HEAD_FILE = "head.pin"
# The key that signs published exports (made at the first export).
EXPORT_KEY_FILE = "export.key"
# Where instances made before the backup key had to leave the folder kept it: `aidnet backup` refuses
# while it is here (and says how to move it); `aidnet restore` still reads it.
BACKUP_KEY_FILE = "backup.key"
# The pid of a running `aidnet serve`: restore and rekey refuse while it names a live server.
PID_FILE = "server.pid"
# Present while `aidnet restore` swaps files in: a half-swapped folder must not start.
RESTORE_MARKER = "restore.pending"
INSTANCE_FILES = (CONFIG_FILE, SECRETS_FILE, KEY_FILE, DATABASE_FILE, LOCK_FILE, PIN_FILE, HEAD_FILE, EXPORT_KEY_FILE,
                  BACKUP_KEY_FILE, PID_FILE, RESTORE_MARKER)
# AIDNET_GROUP_COMMIT=off: the baseline bench/ measures against (aidnet/store/groupcommit.py).
GROUP_COMMIT_ENV = "AIDNET_GROUP_COMMIT"

DEFAULT_CONFIG = """\
# aidnet instance settings. Edit the lists to match your group; the ids on
# the left are what the counters use, the labels are what people see.

# Minutes of inactivity before a coordinator is logged out.
session_idle_minutes = 20
# Days an unanswered request is kept before it is erased.
request_retention_days = 90
# Set to true when the site is served over HTTPS (cookies become Secure).
secure_cookies = false
# Only for a clearnet HTTPS mirror: your public onion (http://....onion), sent
# as Onion-Location so Tor Browser offers it. Leave empty behind Tor alone.
onion_location = ""
# The currency money is counted in, as its three-letter code (ISO 4217), e.g. "EUR", "USD", "MXN".
# Empty: amounts are shown as plain numbers of whole units.
currency = ""

# A label is plain text, or a table with one label per language (en, es, fr, ar...).
[categories]
food = { en = "Food", es = "Comida", fr = "Nourriture", ar = "طعام" }
medicine = { en = "Medicine", es = "Medicinas", fr = "Médicaments", ar = "أدوية" }
rent = { en = "Rent or bills", es = "Alquiler o facturas", fr = "Loyer ou factures", ar = "إيجار أو فواتير" }
transport = { en = "A ride", es = "Transporte", fr = "Un trajet", ar = "توصيلة" }
childcare = { en = "Childcare", es = "Cuidado de niños", fr = "Garde d'enfants", ar = "رعاية الأطفال" }
other = { en = "Something else", es = "Otra cosa", fr = "Autre chose", ar = "شيء آخر" }

[areas]
north = { en = "North", es = "Norte", fr = "Nord", ar = "الشمال" }
south = { en = "South", es = "Sur", fr = "Sud", ar = "الجنوب" }
east = { en = "East", es = "Este", fr = "Est", ar = "الشرق" }
west = { en = "West", es = "Oeste", fr = "Ouest", ar = "الغرب" }
centre = { en = "Centre", es = "Centro", fr = "Centre", ar = "الوسط" }

# How long records live (days). Unanswered requests: request_retention_days
# above. `aidnet purge` (run daily by ops/aidnet-purge.timer) erases what is due.
[retention]
# Fulfilled or closed requests, with their replies, counted from the first
# purge after they were closed.
closed_days = 30
# Withdrawn requests: 0 means erased at the next purge.
withdrawn_days = 0
# The longest a coordinator may keep a request past today, with a reason.
max_extension_days = 180
# Days an offline keyholder's bundle (every sealed record, still sealed) can be
# read; after that the keyholder tool refuses it and says to delete it.
bundle_days = 14

# Published totals (`aidnet export`, the /transparency page).
[export]
# Cells from 1 to k-1 are never shown (k is never below 5).
k = 10
# Integer noise (discrete Laplace) on every published number.
noise = true
# Privacy cost of one release, as a fraction; each week it covers spends this.
epsilon = "1/2"
# The most any one week may ever spend, over all releases that cover it.
week_budget = "1"
# Money amounts are in minor units (cents); noise is scaled to this much per movement.
money_clip = 50000
# Money received, paid out and budgets per category and month are published exactly where no one can be
# worked out: with at least min_contributors gifts or requests (never below 3), and when the second-largest
# contributor could not estimate the largest within dominance_p percent (the p% rule).
min_contributors = 3
dominance_p = 10

# Public submissions the whole site takes each minute, from everyone together
# (over Tor every visitor looks the same, so there is no per-person limit).
# Beyond it, people see "we are receiving many requests, please try again in a
# few minutes" and nothing they sent is kept; the form keeps what they typed.
# Requests a logged-in coordinator types in (phone, paper) are not counted.
[intake]
requests_per_minute = 30
offers_per_minute = 10

# An optional question on the request and offer forms that a neighbour can
# answer and a script cannot guess: a local landmark, a word from your flyer.
# One line per language; a language without one is asked in English. Answers
# are compared ignoring case and extra spaces; any listed answer, in any
# language, is accepted. Remove the # to turn it on.
# [question]
# en = { ask = "What is the name of the bakery by the bus station?", answers = ["sol", "panaderia sol"] }
# es = { ask = "¿Cómo se llama la panadería junto a la estación?", answers = ["sol", "panadería sol"] }

# Cost of unlocking a coordinator key (Argon2id). The defaults are RFC 9106's
# second recommendation; anything lower is refused at start (tests lower it
# with test_only = true, which no real instance should ever carry).
[argon2]
time_cost = 3
memory_kib = 65536
parallelism = 4
"""


class ConfigError(Exception):
    """The instance folder is missing, incomplete or malformed."""


@dataclass(frozen=True)
class Settings:
    instance: Path
    secret_key: bytes
    codename_salt: bytes
    db_key: bytes
    categories: dict[str, str]
    areas: dict[str, str]
    session_idle_minutes: int = 20
    session_max_hours: int = 12
    request_retention_days: int = 90
    secure_cookies: bool = False
    # "http://<56 letters>.onion" or empty (see ops/ and aidnet/onion.py).
    onion_location: str = ""
    argon2: Argon2Params = field(default_factory=Argon2Params)
    # [retention] and [export]; defaults when absent (older instance folders).
    policy: Policy = field(default_factory=Policy)
    # [intake] and [question]: the public forms' budget a minute, and the group's question if it set one.
    intake: Intake = field(default_factory=Intake)
    # Category and area labels per language ({id: {language: label}}); see labels_in().
    category_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    area_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    currency: str = ""  # ISO 4217 code, or "" for plain numbers
    # Concurrent writers in one process share a durable commit; read once, at load (group commit).
    group_commit: bool = True

    def labels_in(self, kind: str, language: str) -> dict[str, str]:
        """Category ("categories") or area ("areas") labels in a language; the default label where none."""
        base, tables = (self.categories, self.category_labels) if kind == "categories" else (self.areas, self.area_labels)
        return {key: tables.get(key, {}).get(language, label) for key, label in base.items()}

    @property
    def database(self) -> Path:
        return self.instance / DATABASE_FILE

    @property
    def lock_file(self) -> Path:
        return self.instance / LOCK_FILE

    @property
    def pin_file(self) -> Path:
        return self.instance / PIN_FILE

    @property
    def head_file(self) -> Path:
        return self.instance / HEAD_FILE


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def create_instance(instance: Path) -> list[Path]:
    """Make a new instance folder with fresh secrets; refuses to overwrite one."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    made = []
    for name in (CONFIG_FILE, SECRETS_FILE, KEY_FILE):
        if (instance / name).exists():
            raise ConfigError(f"{instance / name} already exists; not overwriting it")
    _write_private(instance / CONFIG_FILE, DEFAULT_CONFIG)
    _write_private(
        instance / SECRETS_FILE,
        "# Generated by aidnet init. Keep private; losing it locks out every codename.\n"
        f'secret_key = "{secrets.token_hex(32)}"\n'
        f'codename_salt = "{secrets.token_hex(32)}"\n',
    )
    # A random 256-bit raw key: opening the database costs no KDF per connection.
    _write_private(instance / KEY_FILE, secrets.token_hex(32) + "\n")
    made += [instance / CONFIG_FILE, instance / SECRETS_FILE, instance / KEY_FILE]
    return made


def _hex32(value: object, what: str) -> bytes:
    try:
        raw = bytes.fromhex(str(value).strip())
    except ValueError:
        raise ConfigError(f"{what} is not hex") from None
    if len(raw) != 32:
        raise ConfigError(f"{what} must be 32 bytes")
    return raw


def _labels(data: dict[str, object], name: str) -> dict[str, str]:
    """The default (English) label of each id; a label is a string or a table of languages."""
    return {key: (by_language.get("en") or next(iter(by_language.values())))
            for key, by_language in _label_tables(data, name).items()}


def _label_tables(data: dict[str, object], name: str) -> dict[str, dict[str, str]]:
    """Each id's labels by language code: `food = "Food"` or `food = { en = "Food", es = "Comida" }`."""
    table = data.get(name)
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{CONFIG_FILE}: [{name}] must list at least one entry")
    labels: dict[str, dict[str, str]] = {}
    for key, label in table.items():
        if not key.isascii() or not key.replace("_", "").isalnum() or len(key) > 32:
            raise ConfigError(f"{CONFIG_FILE}: [{name}] id {key!r} must be short ascii letters/digits")
        by_language = label if isinstance(label, dict) else {"en": label}
        if not by_language or not all(
            isinstance(code, str) and code.isascii() and code.replace("_", "").isalpha() and isinstance(text, str)
            and text.strip() for code, text in by_language.items()
        ):
            raise ConfigError(f"{CONFIG_FILE}: [{name}] {key} needs a label (text, or a table of language = text)")
        labels[key] = dict(by_language)
    return labels


def _currency(value: object) -> str:
    if value == "":
        return ""
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
        raise ConfigError(f'{CONFIG_FILE}: currency must be a three-letter code like "EUR", or empty')
    return value


def _onion_location(value: object) -> str:
    if not value:
        return ""
    try:
        return f"http://{onion_host(str(value))}.onion"
    except ValueError:
        raise ConfigError(f"{CONFIG_FILE}: onion_location must be a v3 onion address") from None


def load_settings(instance: Path) -> Settings:
    """Read and check the instance folder; ConfigError with a one-line reason if unusable."""
    if (instance / RESTORE_MARKER).exists():
        raise ConfigError(f"a restore into {instance} was interrupted; run the same `aidnet restore ... --replace` again")
    if not (instance / CONFIG_FILE).is_file():
        raise ConfigError(f"no instance at {instance} (run: aidnet init --instance {instance})")
    try:
        with open(instance / CONFIG_FILE, "rb") as f:
            config = tomllib.load(f)
        with open(instance / SECRETS_FILE, "rb") as f:
            secret = tomllib.load(f)
        db_key = (instance / KEY_FILE).read_text(encoding="ascii")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read instance files in {instance}: {type(exc).__name__}") from None
    argon = config.get("argon2", {})
    try:
        params = Argon2Params(
            time_cost=int(argon.get("time_cost", 3)),
            memory_kib=int(argon.get("memory_kib", 65536)),
            parallelism=int(argon.get("parallelism", 4)),
        )
        idle = int(config.get("session_idle_minutes", 20))
        retention = int(config.get("request_retention_days", 90))
    except (TypeError, ValueError):
        raise ConfigError(f"{CONFIG_FILE}: numbers expected") from None
    if not 1 <= idle <= 240 or not 1 <= retention <= 3650:
        raise ConfigError(f"{CONFIG_FILE}: session_idle_minutes or request_retention_days out of range")
    floor = Argon2Params()
    if (argon.get("test_only") is not True and (params.time_cost < floor.time_cost or params.memory_kib < floor.memory_kib
                                                or params.parallelism < floor.parallelism)):
        raise ConfigError(f"{CONFIG_FILE}: [argon2] is below RFC 9106's second recommendation "
                          f"(time_cost {floor.time_cost}, memory_kib {floor.memory_kib}, parallelism {floor.parallelism})")
    try:
        policy = parse_policy(config)
        intake = parse_intake(config)
    except ValueError as exc:
        raise ConfigError(f"{CONFIG_FILE}: {exc}") from None
    return Settings(
        instance=instance,
        secret_key=_hex32(secret.get("secret_key"), "secret_key"),
        codename_salt=_hex32(secret.get("codename_salt"), "codename_salt"),
        db_key=_hex32(db_key, KEY_FILE),
        categories=_labels(config, "categories"),
        areas=_labels(config, "areas"),
        category_labels=_label_tables(config, "categories"),
        area_labels=_label_tables(config, "areas"),
        session_idle_minutes=idle,
        request_retention_days=retention,
        secure_cookies=bool(config.get("secure_cookies", False)),
        onion_location=_onion_location(config.get("onion_location", "")),
        currency=_currency(config.get("currency", "")),
        argon2=params,
        policy=policy,
        intake=intake,
        group_commit=group_commit_from_environment(),
    )


def group_commit_from_environment() -> bool:
    """False with AIDNET_GROUP_COMMIT=off (or 0, no, false): one SQLite FULL commit per write."""
    return os.environ.get(GROUP_COMMIT_ENV, "on").lower() not in ("off", "0", "no", "false")
