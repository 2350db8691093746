#!/bin/sh
# The whole test suite, from a fresh clone: install what it needs into .venv-test, then run it.
set -eu
cd "$(dirname "$0")/.."
sh ops/bootstrap.sh test
exec .venv-test/bin/python -m pytest "$@"
