"""Serve: the production server (gunicorn) aidnet runs under, and its worker.

May import: `aidnet.web` (the app it serves) and everything below it.
Never: cli. No access log, an error log scrubbed of addresses and of anything
a client sent, two loopback ports routed by the socket a connection arrived
on (never by a header), and a stop at once when the disk refuses a commit.
"""
