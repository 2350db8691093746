"""aidnet: a privacy-first server for mutual aid groups.

The package is layered, one way down (docs/development.md; the import
contract in pyproject.toml checks it):

    cli, serve          the `aidnet` command and the production server
    web                 the Flask app: one blueprint per audience
    decisions, exports  signed decisions and their effects; signed public totals
    records             requests, offers, the conversation, retention, accounts
    sealing             who reads (the verified log) and how sealed records are written
    store               all SQL: SQLCipher, one writer, durable commits
    config, policy, dates, errors, onion   settings and small pure helpers

`crypto` (beside this package) is pure cryptography and imports nothing of it.
"""
