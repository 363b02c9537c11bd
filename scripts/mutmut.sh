#!/usr/bin/env bash
# mutmut over the modules that hold the promises (issue 17): every mutant must be
# killed by a test or be listed, with its reason, in tests/mutation-equivalents.md.
# The modules and their tests are [tool.mutmut] in pyproject.toml (mutmut reads its
# configuration only there).  One worker by default: MUTMUT_CHILDREN=2 for more.
# Prints killed/total per module; exit status 1 if an unlisted mutant survives.
#   make mutation            (or: bash scripts/mutmut.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MUTMUT="$PY -m mutmut"
if ! $PY -c 'import mutmut' 2>/dev/null; then
  echo "mutmut is not installed for $PY: make install-dev (it is in the dev extra)"; exit 2
fi
# The pure-Python frame paths (ws.frames.split_frames_py, apply_mask_py) are the ones
# mutmut mutates: with the C speedups in use they would never run.  The tests of the
# compiled versions still compare them with the Python ones.
export WS_NO_SPEEDUPS=1
# A fresh run: mutmut copies the tests into mutants/ once and would not see new ones.
rm -rf mutants
$MUTMUT run --max-children "${MUTMUT_CHILDREN:-1}" >/tmp/mutmut_run.txt 2>&1
status=$?
if [ $status -ne 0 ]; then tail -20 /tmp/mutmut_run.txt; echo "mutmut run failed ($status)"; exit 2; fi
$MUTMUT results --all true 2>/dev/null | EQUIV=tests/mutation-equivalents.md "$PY" -c '
import os, re, sys
from collections import Counter
listed = set(re.findall(r"^\| `([^`]+)`", open(os.environ["EQUIV"], encoding="utf-8").read(), re.M))
total, killed, equivalent, bad = Counter(), Counter(), Counter(), []
for line in sys.stdin:
    name, _, status = line.strip().rpartition(": ")
    if not name:
        continue
    module = name.split(".x")[0]
    total[module] += 1
    if status in ("killed", "timeout"):
        killed[module] += 1
    elif name in listed:
        equivalent[module] += 1
    else:
        bad.append(f"{name}: {status}")
print("%-18s %7s %7s %10s %7s" % ("module", "mutants", "killed", "equivalent", "score"))
for module in sorted(total):
    real = total[module] - equivalent[module]
    score = 100.0 * killed[module] / real if real else 100.0
    print("%-18s %7d %7d %10d %6.1f%%" % (module, total[module], killed[module], equivalent[module], score))
for line in bad:
    print("SURVIVED ", line, "  (mutmut show NAME; kill it with a test or list it as equivalent)")
sys.exit(1 if bad else 0)
'
