#!/bin/sh
# The whole test suite, from a fresh clone: install what it needs into .venv-test, then run it.
# Two steps: every test not marked serial, a file at a time on each core (pytest-xdist); then the
# serial ones alone, whose checks are bound to time (load, slow clients, a crash, clock minutes).
# Arguments go to both steps (a path, -k, -x ...); a step they select nothing in is skipped.
set -eu
cd "$(dirname "$0")/.."
sh ops/bootstrap.sh test
status=0
.venv-test/bin/python -m pytest -n auto --dist loadfile -m "not serial" "$@" || status=$?
serial=0
.venv-test/bin/python -m pytest -m serial "$@" || serial=$?
# 5 is pytest's "no test selected": fine for one step, not for both.
if [ "$status" = 5 ] && [ "$serial" = 5 ]; then exit 5; fi
[ "$status" = 5 ] && status=0
[ "$serial" = 5 ] && serial=0
[ "$status" = 0 ] && exit "$serial"
exit "$status"
