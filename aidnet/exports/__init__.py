"""Exports: signed, anonymized releases of the aggregate counters, and the files partners verify.

May import: `aidnet.store` (counters and releases only, never a row about a
person), the small modules at the top of `aidnet`, and nacl for signatures.
Never: records, decisions, sealing, web, serve or cli; Flask. A release is
made from counters alone, noised once (`noise`), with small cells withheld
(`suppression`), stored, and signed (`files`); the same period always gives
the same bytes.
"""
