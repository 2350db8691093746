#!/bin/sh
# Refresh the translation catalogues after strings change in the code or templates:
# extract every _() / _l() string (babel.cfg says where), then merge it into each
# aidnet/translations/<lang>/LC_MESSAGES/messages.po. Translate the new entries
# (empty or "#, fuzzy" ones) by hand; tests/test_i18n.py fails until every one is done.
# New language: sh ops/translations.sh init CODE   (e.g. init uk)
set -eu
cd "$(dirname "$0")/.."
PYBABEL=.venv-test/bin/pybabel  # the developers' venv (sh tests/run.sh makes it), else the plain one
[ -x "$PYBABEL" ] || PYBABEL=.venv/bin/pybabel
POT=$(mktemp --suffix=.pot)
trap 'rm -f "$POT"' EXIT
"$PYBABEL" -q extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --project aidnet -o "$POT" .
if [ "${1:-}" = init ]; then
    "$PYBABEL" -q init -i "$POT" -d aidnet/translations -l "$2" --no-wrap
else
    "$PYBABEL" -q update -i "$POT" -d aidnet/translations --no-fuzzy-matching --ignore-obsolete --no-wrap
fi
