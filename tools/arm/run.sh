#!/usr/bin/env bash
# ARM kernel checks: the C kernels cross-compiled for aarch64 (64-bit Raspberry Pi OS, Pi 3/4/5)
# and armv7 NEON-VFPv4 (32-bit Raspberry Pi OS, Pi 2+), run under qemu-user against the numpy
# reference, bit-exactly; plus the same driver built natively as a control.
#   bash tools/arm/run.sh            (docs/PLATFORMS.md, "ARM kernel checks")
# Env: ARM_BUILD (build dir, default a fresh temp dir), ARM_INSTALL=0 (never apt-get; fail if
# tools are missing), CC_NATIVE (default gcc), PYTHON (runs the numpy oracle; default python3).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${ARM_BUILD:-$(mktemp -d /tmp/int8rt-arm.XXXXXX)}
mkdir -p "$B"
T0=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
export DEBIAN_FRONTEND=noninteractive

PKGS=(gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross
      qemu-user-static)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  if [ "${ARM_INSTALL:-1}" = 0 ]; then echo "missing packages: ${missing[*]}" >&2; exit 2; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The project's flags (setup.py): no -march beyond each target's baseline, no FMA contraction
# (it would change requantization results), errno-free libm so lrintf / rintf inline.
CFLAGS=(-std=c11 -O2 -ffp-contract=off -fno-math-errno -Wall -Wextra -Wno-unused-parameter
        -Wno-sign-compare -Wno-unused-function -Werror -I"$SRC/csrc/include" -I"$SRC/csrc")
mapfile -t SOURCES < <(find "$SRC/csrc" -name '*.c' | sort)
SOURCES+=("$SRC/tools/arm/kernel_check.c")

"${PYTHON:-python3}" "$SRC/tools/arm/make_cases.py" "$B/cases.bin"
printf 'I8RTCAS1\0\0\0\0' > "$B/empty.bin"  # zero cases: only prints the selected path

# name : compiler : target flags. aarch64 baseline ARMv8.0-A tuned for the Pi 3's A53 (runs on
# every 64-bit Pi); armv7: NEON-VFPv4 is the Pi 2+ floor of 32-bit Raspberry Pi OS. armhf-deb:
# the armhf toolchain's own defaults (VFPv3-D16, no NEON), i.e. what `pip install` builds on a
# Debian / Raspberry Pi OS armhf system: the NEON kernels come from target("fpu=neon") alone.
BUILDS=("native:${CC_NATIVE:-gcc}:"
        "aarch64:aarch64-linux-gnu-gcc:-march=armv8-a -mtune=cortex-a53"
        "armhf:arm-linux-gnueabihf-gcc:-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard"
        "armhf-deb:arm-linux-gnueabihf-gcc:")
pids=()
for b in "${BUILDS[@]}"; do
  IFS=: read -r name cc flags <<<"$b"
  # shellcheck disable=SC2086  # $flags is a list of flags
  "$cc" "${CFLAGS[@]}" $flags "${SOURCES[@]}" -lm -pthread -o "$B/kernel_check_$name" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo "cases + ${#BUILDS[@]} builds: $(since "$T0") s"

# target | build | runner | ISAs to check | the path the dispatcher must pick on its own.
# ISAs: every path the emulated CPU model can run (neondot only where the model has dotprod, so
# a dotprod instruction outside that path dies with SIGILL). The native control also checks
# avx2 (kernel_check skips it on a CPU without AVX2; its expected default is then not checked).
QA64="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
QA32="qemu-arm-static -L /usr/arm-linux-gnueabihf"
TARGETS=("x86-64 (native control)|native||scalar avx2|"
         "aarch64 cortex-a72 (Pi 4)|aarch64|$QA64 -cpu cortex-a72|scalar neon|neon"
         "aarch64 cortex-a76 (Pi 5)|aarch64|$QA64 -cpu cortex-a76|scalar neon neondot|neondot"
         "aarch64 max (dotprod+i8mm+SVE)|aarch64|$QA64 -cpu max|scalar neon neondot|neondot"
         "armv7 cortex-a7 (Pi 2, 32-bit OS)|armhf|$QA32 -cpu cortex-a7|scalar neon|neon"
         "armv7 cortex-a15|armhf|$QA32 -cpu cortex-a15|scalar neon|neon"
         "armv7 default flags cortex-a7|armhf-deb|$QA32 -cpu cortex-a7|scalar neon|neon")
ulimit -c 0
total_pass=0 total_fail=0 runs_failed=0 runs=0
for t in "${TARGETS[@]}"; do
  IFS='|' read -r label bin runner isas best <<<"$t"
  cpu=$(sed -n 's/.*-cpu \([^ ]*\).*/\1/p' <<<"$runner")
  if [ -n "$best" ]; then  # dispatch: no INT8RT_ISA, the best path this model supports
    # shellcheck disable=SC2086
    got=$(env -u INT8RT_ISA QEMU_CPU=$cpu $runner "$B/kernel_check_$bin" "$B/empty.bin" |
          sed -n 's/^path=//p')
    if [ "$got" = "$best" ]; then echo "ok    $label dispatch: path=$got"
    else echo "FAIL  $label dispatch: path=$got, want $best"; runs_failed=$((runs_failed + 1)); fi
    runs=$((runs + 1))
  fi
  for isa in $isas; do
    runs=$((runs + 1))
    s=$EPOCHREALTIME
    # QEMU_CPU explicitly too: -cpu wins, but a stray QEMU_CPU in the environment must not.
    # shellcheck disable=SC2086
    out=$(QEMU_CPU=$cpu INT8RT_ISA=$isa $runner "$B/kernel_check_$bin" "$B/cases.bin" 2>&1) \
      && rc=0 || rc=$?
    summary=$(tail -n 1 <<<"$out")
    if [[ $rc -ne 0 || ! $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
      echo "$out" | head -n 40
      echo "FAIL  $label isa=$isa: rc=$rc ($summary)"
      runs_failed=$((runs_failed + 1))
      if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        total_pass=$((total_pass + BASH_REMATCH[1])); total_fail=$((total_fail + BASH_REMATCH[2]))
      else
        total_fail=$((total_fail + 1))
      fi
    else
      total_pass=$((total_pass + BASH_REMATCH[1]))
      echo "ok    $label isa=$isa: $summary [$(since "$s") s]"
    fi
  done
done
# every gemm kernel set each CPU model runs (native and emulated) against the scalar set, over a
# shape / zero point / clamp / epilogue sweep (kernel_check --gemm-sets)
for t in "${TARGETS[@]}"; do
  IFS='|' read -r label bin runner isas best <<<"$t"
  cpu=$(sed -n 's/.*-cpu \([^ ]*\).*/\1/p' <<<"$runner")
  runs=$((runs + 1))
  s=$EPOCHREALTIME
  # shellcheck disable=SC2086
  out=$(env -u INT8RT_ISA QEMU_CPU=$cpu $runner "$B/kernel_check_$bin" --gemm-sets 2>&1) \
    && rc=0 || rc=$?
  summary=$(tail -n 1 <<<"$out")
  # (not added to the case totals below, which count the case file's cases)
  if [[ $rc -eq 0 && $summary =~ ^gemm\ sets:\ [0-9]+\ passed,\ 0\ failed$ ]]; then
    sets=$(sed -n 's/^gemm set \([a-z0-9_]*\): ok$/\1/p' <<<"$out" | tr '\n' ' ')
    echo "ok    $label gemm sets: ${summary#gemm sets: } [${sets% }] [$(since "$s") s]"
  else
    echo "$out" | head -n 40
    echo "FAIL  $label gemm sets: rc=$rc ($summary)"
    runs_failed=$((runs_failed + 1))
  fi
done
# qemu enforces the CPU model: SDOT called directly (no dispatch) must SIGILL on cortex-a72 and
# run on cortex-a76, so the per-model neondot runs above prove the dispatch picks it correctly.
# shellcheck disable=SC2086
(QEMU_CPU=cortex-a72 $QA64 -cpu cortex-a72 "$B/kernel_check_aarch64" --force-neondot \
  >/dev/null 2>&1) 2>/dev/null && rc=0 || rc=$?
runs=$((runs + 1))
if [ "$rc" -eq 132 ]; then echo "ok    aarch64 cortex-a72 forced sdot: SIGILL (rc 132)"
else echo "FAIL  aarch64 cortex-a72 forced sdot: rc=$rc, want SIGILL (132)"; runs_failed=$((runs_failed + 1)); fi
# shellcheck disable=SC2086
out=$(QEMU_CPU=cortex-a76 $QA64 -cpu cortex-a76 "$B/kernel_check_aarch64" --force-neondot 2>&1) \
  && rc=0 || rc=$?
runs=$((runs + 1))
if [ "$rc" -eq 0 ] && [ "$out" = "sdot ran" ]; then echo "ok    aarch64 cortex-a76 forced sdot: $out"
else echo "FAIL  aarch64 cortex-a76 forced sdot: rc=$rc $out"; runs_failed=$((runs_failed + 1)); fi
echo "ARM kernel checks: $runs runs, $runs_failed failed runs, $(since "$T0") s total"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$runs_failed" -eq 0 ]
