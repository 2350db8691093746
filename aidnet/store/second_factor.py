"""SQL for the coordinators' optional second factor.

Rows hold only what cannot help an attacker who has the database alone: the
TOTP secret sealed to the coordinator's own key, the last accepted time step,
and Argon2id hashes of unused recovery codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .connection import Store, Tx


@dataclass(frozen=True)
class SecondFactorRow:
    coordinator_id: int
    sealed_secret: bytes
    last_step: int
    recovery_salt: bytes
    recovery_params: str


def second_factor(store: Store, coordinator_id: int) -> SecondFactorRow | None:
    row = store.conn.execute(
        "SELECT coordinator_id, sealed_secret, last_step, recovery_salt, recovery_params"
        " FROM second_factor WHERE coordinator_id = ?", (coordinator_id,)
    ).fetchone()
    return SecondFactorRow(*row) if row else None


def put_second_factor(tx: Tx, row: SecondFactorRow, code_hashes: list[bytes]) -> None:
    """Turn the second factor on (or replace it), with a fresh set of recovery codes."""
    delete_second_factor(tx, row.coordinator_id)
    tx.execute(
        "INSERT INTO second_factor (coordinator_id, sealed_secret, last_step, recovery_salt, recovery_params)"
        " VALUES (?, ?, ?, ?, ?)",
        (row.coordinator_id, row.sealed_secret, row.last_step, row.recovery_salt, row.recovery_params),
    )
    tx.executemany("INSERT INTO recovery_codes (coordinator_id, code_hash) VALUES (?, ?)",
                   [(row.coordinator_id, h) for h in code_hashes])


def delete_second_factor(tx: Tx, coordinator_id: int) -> None:
    tx.execute("DELETE FROM recovery_codes WHERE coordinator_id = ?", (coordinator_id,))
    tx.execute("DELETE FROM second_factor WHERE coordinator_id = ?", (coordinator_id,))


def advance_step(tx: Tx, coordinator_id: int, step: int) -> bool:
    """Accept a code's time step once: False if it (or a later one) was used before."""
    cur = tx.execute("UPDATE second_factor SET last_step = ? WHERE coordinator_id = ? AND last_step < ?",
                     (step, coordinator_id, step))
    return bool(cur.rowcount == 1)


def recovery_hashes(store: Store, coordinator_id: int) -> list[bytes]:
    return [bytes(r[0]) for r in store.conn.execute(
        "SELECT code_hash FROM recovery_codes WHERE coordinator_id = ?", (coordinator_id,))]


def use_recovery_code(tx: Tx, coordinator_id: int, code_hash: bytes) -> bool:
    """Spend a recovery code: False if it was already spent."""
    cur = tx.execute("DELETE FROM recovery_codes WHERE coordinator_id = ? AND code_hash = ?", (coordinator_id, code_hash))
    return bool(cur.rowcount == 1)
