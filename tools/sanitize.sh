#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer in a scratch copy of
# the checkout and run the native-code tests against it.
#   bash tools/sanitize.sh [pytest args...]     (default: kernel, plan, lowering, session tests)
# Reports go to $ASAN_LOG_DIR (pytest captures stderr, so a crash report would otherwise be
# lost); the script fails if any report was written.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/int8rt-asan.XXXXXX)}
ASAN_LOG_DIR=${ASAN_LOG_DIR:-$WORK/reports}
mkdir -p "$ASAN_LOG_DIR"
tar -C "$SRC" --exclude=.git --exclude=build --exclude='.venv*' --exclude='*.so' \
    --exclude='int8rt/_native/*.c' -cf - . | tar -C "$WORK" -xf -
cd "$WORK"
python -c "import Cython, numpy, setuptools" 2>/dev/null ||
  python -m pip install -q "Cython>=3.0" "setuptools>=70.1" wheel numpy
CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1" \
LDFLAGS="-fsanitize=address,undefined" python setup.py build_ext --inplace -q
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
# allocator_may_return_null: a request the allocator cannot serve returns NULL (numpy then
# raises MemoryError, as without ASan) instead of aborting: tests feed 2^40-image batches.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$ASAN_LOG_DIR/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$ASAN_LOG_DIR/ubsan"
if [ $# -eq 0 ]; then
  set -- tests/kernels tests/test_plan.py tests/test_lower.py tests/test_session.py tests/test_cli.py \
    tests/test_hostile_inputs.py
fi
set +e
python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
# With allocator_may_return_null, ASan still logs each refused allocation as a warning: that
# is the requested behaviour (the caller sees NULL -> MemoryError), not a finding.
for f in "$ASAN_LOG_DIR"/*; do
  [ -e "$f" ] || continue
  if ! grep -qv "WARNING: AddressSanitizer failed to allocate" "$f"; then
    echo "refused allocation (expected, MemoryError): $(head -c 200 "$f")"
    rm -f "$f"
  fi
done
if compgen -G "$ASAN_LOG_DIR/*" > /dev/null; then
  echo "sanitizer reports in $ASAN_LOG_DIR:" >&2
  head -30 "$ASAN_LOG_DIR"/* >&2
  exit 1
fi
exit $rc
