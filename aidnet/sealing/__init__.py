"""Sealing: who may read (from the verified decision log), and how a sealed record is written and re-sealed.

May import: `crypto`, `aidnet.store`, and the small modules at the top of
`aidnet` (config, policy, dates, errors).
Never: records, decisions, exports, web, serve or cli; Flask; the coordinators
table as a source of readers (readers come from the verified log alone).
Nothing here knows what a request or an offer is: it seals bytes to readers
and checks at commit that the readers did not change meanwhile.
"""
