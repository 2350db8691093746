#!/bin/sh
# The mutation check, outside the 10-minute suite: sh ops/mutation.sh TARGET (TARGET: a file in
# ops/mutation/, e.g. crypto). mutmut changes one operator or constant at a time and runs the tests
# that reach it; a mutant that no test notices is a gap in the tests. Runs in a scratch copy of the
# files git knows (new untracked ones too), so the work tree is never changed; prints the score and
# each mutant left alive as a diff. The score leaves out mutants that change only an error's words and
# those judged equivalent in the TARGET file (ops/mutation/score.py says how); docs/development.md has more.
# About 5 minutes for crypto on two shared cores.
# After TARGET, mutant names (mutmut's, wildcards allowed) check only those, e.g. the slowest module alone:
#   sh ops/mutation.sh exports 'aidnet.exports.noise.*'   (the rest are counted "not checked").
set -eu
cd "$(dirname "$0")/.."
target=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$target" ] || [ ! -f "ops/mutation/$target.toml" ]; then
    echo "usage: sh ops/mutation.sh TARGET   (one of: $(cd ops/mutation && ls *.toml | sed 's/\.toml$//' | tr '\n' ' '))" >&2
    exit 1
fi
sh ops/bootstrap.sh test
.venv-test/bin/pip install -q --disable-pip-version-check -e '.[test,mutation]'
root=$(pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/aidnet-mutation-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$scratch"
cat "ops/mutation/$target.toml" >> "$scratch/pyproject.toml"
cd "$scratch"
nice -n 10 "$root/.venv-test/bin/mutmut" run --max-children "$(nproc)" "$@" >"$scratch/run.log" 2>&1 || {
    tail -20 "$scratch/run.log" >&2; echo "mutmut could not run (its log is above)" >&2; exit 1; }
"$root/.venv-test/bin/mutmut" results --all true >"$scratch/results.txt" 2>&1 || true
"$root/.venv-test/bin/python" "$root/ops/mutation/score.py" "$root/ops/mutation/$target.toml" \
    "$scratch/results.txt" "$scratch/alive.txt"
echo "mutants left alive (each as a diff; a timeout counts as alive):"
while read -r name; do "$root/.venv-test/bin/mutmut" show "$name"; done <"$scratch/alive.txt"
