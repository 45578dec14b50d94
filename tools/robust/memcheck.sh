#!/usr/bin/env bash
# valgrind memcheck over the native code: tools/robust/memcheck_driver.py (every plan op kind,
# several Sessions, hostile feeds) and, optionally, a pytest subset given as arguments.
#   bash tools/robust/memcheck.sh                         # the driver only (about a minute)
#   bash tools/robust/memcheck.sh tests/kernels/test_conv.py -k "small"
# CPython and numpy are not valgrind-clean by themselves (pymalloc, interned objects kept for the
# process's life), so the verdict counts only errors whose stack passes through int8rt's own
# code (int8rt/_native/*.so): invalid reads/writes, uses of uninitialised values, invalid frees, and
# leaks that valgrind calls "definitely lost" with an int8rt frame. Exit 1 on any.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOG=${MEMCHECK_LOG:-$(mktemp /tmp/int8rt-memcheck.XXXXXX.log)}
cd "$ROOT"
command -v valgrind > /dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
# The interpreter itself, not a wrapper script (pyenv's `python` is a shell script, and valgrind
# would check the shell).
PY=$(python -c 'import sys; print(sys.executable)')
if [ $# -eq 0 ]; then
  set -- "$PY" tools/robust/memcheck_driver.py
else
  set -- "$PY" -m pytest -q -p no:cacheprovider "$@"
fi
export PYTHONMALLOC=malloc   # let valgrind see every allocation, not pymalloc's arenas
set +e
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --num-callers=30 --log-file="$LOG" "$@"
rc=$?
set -e
"$PY" - "$LOG" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# valgrind writes one block per error, separated by blank "==pid==" lines.
blocks = re.split(r"\n==\d+== \n", text)
ours = [b for b in blocks if "_native" in b and re.search(
    r"Invalid (read|write|free)|uninitialised|definitely lost|Mismatched free|overlap", b)]
summary = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
print(f"memcheck: {len(ours)} error blocks in int8rt code "
      f"(valgrind total, Python and numpy included: {summary[-1] if summary else '?'}); log {sys.argv[1]}")
for b in ours[:5]:
    print(b[:3000])
sys.exit(1 if ours else 0)
PY
verdict=$?
[ "$rc" -eq 0 ] || { echo "the program under valgrind failed (exit $rc)" >&2; exit "$rc"; }
exit $verdict
