"""The `aidnet` command line: one module per noun, one CommandError, one line and exit 1 when it cannot go on.

May import: every layer below (serve for `aidnet serve`, and the domain layers).
Never: Flask's request, or SQL. `main` builds the parser and turns any
CommandError, Refused, ConfigError, StorageError or CryptoError into one line
on stderr and exit status 1; `common` holds what every command shares.
"""
