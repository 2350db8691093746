"""The store: the only layer that speaks SQL. SQLCipher, WAL, one writer at a time.

May import: `crypto` (canonical forms of what it stores), `aidnet.config`,
`aidnet.policy`, `aidnet.dates`, `aidnet.errors`, sqlcipher3.
Never: anything above it (sealing, records, decisions, exports, web, serve,
cli), Flask, or the sealing and opening of envelopes. It stores what it is
given and returns frozen rows; it decides nothing about who may read.

`connection` is the engine (Store, write transactions, durability), `schema`
the migrations, `groupcommit` the one door for writes that share a commit;
every other module is the SQL of one group of tables.
"""

from __future__ import annotations

from .connection import Durability, StorageError, Store, Tx, open_store

__all__ = ["Durability", "StorageError", "Store", "Tx", "open_store"]
