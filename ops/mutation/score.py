"""Score a mutmut run: killed / (all − equivalent − message-only), and list what is left alive.

Run by ops/mutation.sh inside its scratch copy, after `mutmut run`:

    python ops/mutation/score.py TARGET.toml results.txt alive.txt

A mutant is *message-only* when the only thing it changes is the text of an exception a `raise` builds,
or a string a function returns as a reason a person reads (`return "…"`): what the code does is the
same, only the words differ. That is decided here from the code, by comparing each mutant function
with its original in mutmut's `mutants/` tree, never by a hand list.

A mutant that changes only words too, but through a variable this cannot follow (the `where` a message
starts with), and a mutant that is *equivalent* (it changes nothing anyone can observe) are judged by a
person: each judgement is an entry in TARGET.toml, `[[tool.aidnet-mutation.message]]` or
`[[tool.aidnet-mutation.equivalent]]`, with the function, the mutated line as mutmut writes it (this
prints both for every mutant left alive) and why. An entry matches a surviving mutant only; one that
matches none is reported, so the list cannot quietly go stale. alive.txt receives every other mutant
that no test killed.
"""

from __future__ import annotations

import ast
import collections
import sys
import tomllib
from pathlib import Path
from typing import Any

ALIVE = ("survived", "timeout", "suspicious", "no tests")


def _functions(path: Path) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
    return found


def _differences(a: Any, b: Any, trail: tuple[ast.AST, ...]) -> list[tuple[tuple[ast.AST, ...], Any]]:
    """The smallest places where a and b differ, each with the chain of b's nodes above it."""
    if isinstance(a, ast.AST) and isinstance(b, ast.AST) and type(a) is type(b):
        found = []
        for name in a._fields:
            found += _differences(getattr(a, name, None), getattr(b, name, None), (*trail, b))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for x, y in zip(a, b, strict=True) for d in _differences(x, y, trail)]
    return [] if a == b else [(trail, b)]


def _message_only(trail: tuple[ast.AST, ...]) -> bool:
    """The difference sits in the arguments of the exception a raise builds, or is a string a return gives."""
    for i, node in enumerate(trail):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and trail[i + 1:i + 2] == (node.exc,):
            return trail[i + 2:i + 3] != (node.exc.func,)  # the words, not which exception
        if isinstance(node, ast.Return):
            # The returned value itself is the string (or a branch of `a if c else b`, `a or b`): a string inside a
            # returned dict, tuple, set, f-string or call is data, not words.
            below = trail[i + 1:]
            if not below or not isinstance(below[-1], ast.Constant) or not isinstance(below[-1].value, str):
                return False
            for parent, child in zip(below, below[1:], strict=False):
                if not (isinstance(parent, ast.BoolOp)
                        or isinstance(parent, ast.IfExp) and child is not parent.test):
                    return False
            return True
    return False


def classify(name: str, cache: dict[str, Any]) -> tuple[str, str]:
    """("message" | "other", the mutated line) for one mutant, e.g. crypto.envelope.x_pad__mutmut_3."""
    qualified, _, number = name.rpartition("__mutmut_")
    module, _, base = qualified.rpartition(".")  # a method reads crypto.log.xǁMemberǁto_json
    if module not in cache:
        path = Path("mutants", *module.split(".")).with_suffix(".py")
        cache[module] = (_functions(path), path.read_text(encoding="utf-8").splitlines())
    functions, lines = cache[module]
    original, mutant = functions[f"{base}__mutmut_orig"], functions[f"{base}__mutmut_{number}"]
    original.name = mutant.name  # the names differ by construction
    places = _differences(original, mutant, ())
    original.name = f"{base}__mutmut_orig"
    line = ""
    for trail, _ in places:
        for node in reversed(trail):
            if hasattr(node, "lineno"):
                line = lines[node.lineno - 1].strip()
                break
        if line:
            break
    line = line.replace(mutant.name, base)  # a mutated def line names the mutant; the entry names the function
    kind = "message" if places and all(_message_only(trail) for trail, _ in places) else "other"
    return kind, line


def main(config_path: str, results_path: str, alive_path: str) -> int:
    config = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    judged = config.get("tool", {}).get("aidnet-mutation", {})
    verdicts = {(e["function"], e["line"]): kind for kind in ("message", "equivalent") for e in judged.get(kind, [])}
    states: collections.Counter[str] = collections.Counter()
    per_module: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    alive, used = [], set()
    cache: dict[str, Any] = {}
    for raw in Path(results_path).read_text(encoding="utf-8").splitlines():
        name, _, state = raw.strip().rpartition(": ")
        if not name or "__mutmut_" not in name:
            continue
        kind, line = classify(name, cache)
        function = name.rpartition("__mutmut_")[0]
        module = function.rpartition(".")[0]
        if kind == "message":
            verdict = "message"
        elif state in ALIVE and (function, line) in verdicts:
            verdict = verdicts[function, line]
            used.add((function, line))
        elif state == "killed":
            verdict = "killed"
        elif state in ALIVE:
            verdict = "alive"
            alive.append(name)
            print(f"alive: {name}\n  function = {function!r}\n  line = {line!r}")
        else:
            verdict = state  # e.g. "not checked": counted against the score below
        states[verdict] += 1
        per_module[module][verdict] += 1
    Path(alive_path).write_text("".join(f"{n}\n" for n in alive), encoding="utf-8")

    def score(counts: collections.Counter[str]) -> str:
        judged = sum(counts.values()) - counts["message"] - counts["equivalent"]
        return (f"{counts['killed']} of {judged} killed ({100 * counts['killed'] / max(judged, 1):.1f} %); "
                f"{counts['message']} message-only, {counts['equivalent']} equivalent, "
                f"{sum(counts.values())} mutants")

    for module in sorted(per_module):
        print(f"{module}: {score(per_module[module])}")
    print(f"score: {score(states)}")
    checked = {m for m, counts in per_module.items() if counts["killed"] or counts["alive"]}
    for function, line in sorted(set(verdicts) - used):
        if function.rpartition(".")[0] not in checked:
            continue  # a run of some mutants only (ops/mutation.sh TARGET NAMES): this module was not run
        print(f"stale {verdicts[function, line]} entry (no such surviving mutant): {function}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
