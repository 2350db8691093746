"""Decisions: the community's signed, quorum-approved choices, and what each does when it becomes final.

May import: `crypto`, `aidnet.records`, `aidnet.sealing`, `aidnet.store`, and
the small modules at the top of `aidnet`.
Never: exports, web, serve or cli; Flask. The server holds no keyholder's
key: a decision is final only when enough members' signatures over it
verify, and the log is verified again by every write that appends to it.
`keyholder` is the offline tool's side: it works from files and needs only
`crypto`.
"""
