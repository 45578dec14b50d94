#!/usr/bin/env bash
# The emulated Raspberry Pi rig: int8rt's sdist installed with pip inside a Debian bookworm
# arm64 / armhf chroot (qemu-user via binfmt_misc), then its tests run per Pi CPU model.
#
#   sudo bash tools/arm/chroot.sh [arm64] [armhf]     (default: both; docs/PLATFORMS.md)
#
# The architectures run side by side (one background job each, output prefixed "[ARCH]" and
# kept in $INT8RT_ARM_CACHE/run-ARCH.log): each is one emulated gcc at a time for ~1 h, so one
# after the other would double the wall time for no gain on a 2-core host. The x86 model
# outputs are computed meanwhile; each architecture waits for them only at its hash step.
#
# Steps per architecture:
#   1. rootfs: debootstrap --variant=minbase bookworm from this machine's apt mirror, plus the
#      apt packages a Pi user installs (python3-dev, python3-venv, gcc; armhf: python3-numpy)
#      and a venv with the test tools. Cached as $INT8RT_ARM_CACHE/rootfs-ARCH (+ .tar.zst);
#      reused when present (delete the directory and tarball to rebuild).
#   2. the sdist, built on the host from this checkout (python setup.py sdist), copied in and
#      installed with `pip install int8rt-*.tar.gz`. arm64: build isolation, so pip fetches
#      setuptools / Cython / numpy wheels from PyPI exactly as on a Pi. armhf: PyPI has no armv7l
#      numpy wheel (a source build takes ~30 min emulated), so the venv sees Debian's
#      python3-numpy (--system-site-packages) and pip builds with --no-build-isolation.
#   3. the tests (copied from the checkout, never the source package: the installed one is
#      imported) once per QEMU_CPU, plus tools/arm/model_hashes.py (bit-identity with x86).
#
# Env: INT8RT_ARM_CACHE (default /var/cache/int8rt-arm), MIRROR (default: the host's apt
#      mirror), ARM64_CPUS (default "cortex-a76 cortex-a72"), ARMHF_CPUS (default "cortex-a7"),
#      ARM64_TESTS / ARMHF_TESTS (pytest arguments for the first CPU model of each arch; the
#      checkout's tests/ is copied to /work), QUICK_TESTS (for the other CPU models),
#      REUSE_INSTALL=1 (skip the emulated build if this same sdist is already installed),
#      INSTALL=cross (instead of pip: tools/arm/cross_install.sh builds the extension with the
#      host's cross gcc into /opt/xsite, on PYTHONPATH; fast, but not the Pi user's path),
#      INSTALL=keep (test what is installed; KEEP_XSITE=1: the INSTALL=cross copy),
#      HASHES=0 (skip the model hash comparison), ROOTFS_ONLY=1 (only build / unpack the
#      cached rootfs), KEEP_MOUNTS=1 (debugging).
# Needs root (binfmt_misc, debootstrap, mount, chroot), qemu-user-static, debootstrap, zstd.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${INT8RT_ARM_CACHE:-/var/cache/int8rt-arm}
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(arm64 armhf)
# arm64: the whole default suite. armhf (cortex-a7 is ~2x slower again than the arm64 models):
# kernels, ISA dispatch, session, plan, format, lowering and the quantizer. The chroots have no
# onnx / onnxruntime / torch / Pillow (as a Pi runtime install; armv7 has no wheels at all) and
# no source checkout: the tests that need them skip themselves (pytest.importorskip, file
# checks), which these runs verify.
ARM64_TESTS=${ARM64_TESTS:-"tests"}
QUICK_TESTS=${QUICK_TESTS:-"tests/kernels/test_isa.py tests/kernels/test_fc.py tests/kernels/test_conv.py tests/test_session.py"}
ARMHF_TESTS=${ARMHF_TESTS:-"tests/kernels tests/test_session.py tests/test_plan.py tests/test_format.py tests/test_lower.py tests/test_kernel_tables.py tests/test_validate.py"}
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$CACHE"
LOG=$CACHE/timings.log
T_ALL=$SECONDS
t() { # t LABEL cmd...: runs cmd, logs its wall time
  local s=$SECONDS label=$1; shift
  "$@"
  echo "[$(date -u +%H:%M:%S)] $(( SECONDS - s )) s  $label" | tee -a "$LOG" >&2
}

need_pkgs() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

binfmt_on() {
  # PID 1 is not systemd here: register the qemu interpreters by hand. The F flag (in the
  # .conf) opens the interpreter at registration, so it works inside the chroot too.
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  for a in aarch64 arm; do
    [ -e /proc/sys/fs/binfmt_misc/qemu-$a ] ||
      cat /usr/lib/binfmt.d/qemu-$a.conf > /proc/sys/fs/binfmt_misc/register
    echo 1 > /proc/sys/fs/binfmt_misc/qemu-$a
  done
}

# A clean environment: the host's PIP_* settings must not leak in. QEMU_CPU is always set: the
# default "max" has SVE and numpy's OpenBLAS then runs ~10x slower under emulation.
# PIP_NO_COMPILE: no .pyc at install (this rig never writes bytecode); byte-compiling the build
# environment's numpy, Cython and setuptools under emulation took many minutes on a loaded host.
chroot_run() {
  local cpu=$1; shift
  env -i HOME=/root LANG=C.UTF-8 PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      QEMU_CPU="$cpu" PIP_CERT=/etc/ssl/host-ca-bundle.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
      PIP_DEFAULT_TIMEOUT=180 PIP_NO_COMPILE=1 PYTHONDONTWRITEBYTECODE=1 ${XSITE:+PYTHONPATH=$XSITE} \
      chroot "$ROOTFS" "$@"
}

mounts_on() {
  for d in proc sys dev dev/pts; do mkdir -p "$ROOTFS/$d"; done
  mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
  mountpoint -q "$ROOTFS/sys" || mount -t sysfs sys "$ROOTFS/sys"
  mountpoint -q "$ROOTFS/dev" || mount --bind /dev "$ROOTFS/dev"
  mountpoint -q "$ROOTFS/dev/pts" || mount --bind /dev/pts "$ROOTFS/dev/pts"
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  # PyPI is reached through a TLS proxy whose CA is in the host bundle; keep a copy under a
  # name the chroot's ca-certificates never regenerates
  mkdir -p "$ROOTFS/etc/ssl"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/host-ca-bundle.crt"
}

mounts_off() {
  [ -n "${ROOTFS:-}" ] || return 0
  [ "${KEEP_MOUNTS:-0}" = 1 ] && return 0
  for d in dev/pts dev sys proc; do
    if mountpoint -q "$ROOTFS/$d"; then umount "$ROOTFS/$d" || umount -l "$ROOTFS/$d"; fi
  done
}
trap mounts_off EXIT

make_rootfs() {  # ARCH: sets ROOTFS, creates or reuses the cached rootfs
  local arch=$1 tgz
  ROOTFS=$CACHE/rootfs-$arch
  tgz=$CACHE/rootfs-$arch.tar.zst
  if [ -f "$ROOTFS/.int8rt-ready" ]; then echo "rootfs $arch: cached ($ROOTFS)"; return; fi
  if [ -f "$tgz" ]; then
    rm -rf "$ROOTFS"
    t "untar cached rootfs $arch" tar -C "$CACHE" --zstd -xf "$tgz"
    return
  fi
  local deb_extra="" venv_opts="" pip_pkgs="pytest hypothesis"
  if [ "$arch" = arm64 ]; then
    pip_pkgs="numpy $pip_pkgs"   # aarch64 wheels on PyPI
  else
    deb_extra="python3-numpy"    # Debian's 1.24.2: no armv7l numpy wheels on PyPI
    venv_opts="--system-site-packages"
    pip_pkgs="$pip_pkgs setuptools>=70.1 wheel Cython>=3.0"  # for --no-build-isolation
  fi
  rm -rf "$ROOTFS"
  t "debootstrap $arch" debootstrap --arch="$arch" --variant=minbase bookworm "$ROOTFS" "$MIRROR" \
    >"$CACHE/debootstrap-$arch.log" 2>&1 || { tail -n 30 "$CACHE/debootstrap-$arch.log"; exit 1; }
  mounts_on
  # what docs/PLATFORMS.md tells a Raspberry Pi OS user to apt-get
  t "apt-get in $arch chroot" chroot_run "$(first_cpu "$arch")" sh -c "apt-get update -qq && apt-get install \
      -y -qq --no-install-recommends python3 python3-venv python3-dev python3-pip gcc libc6-dev \
      ca-certificates $deb_extra >/dev/null"
  # shellcheck disable=SC2086
  t "venv + pip ($pip_pkgs) $arch" chroot_run "$(first_cpu "$arch")" sh -c \
      "python3 -m venv $venv_opts /opt/venv && pip install -q --no-cache-dir $(printf "'%s' " $pip_pkgs)"
  chroot "$ROOTFS" sh -c 'apt-get clean; rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /root/.cache'
  touch "$ROOTFS/.int8rt-ready"
  mounts_off
  t "cache rootfs $arch" tar -C "$CACHE" --zstd -cf "$tgz" "rootfs-$arch"
}

first_cpu() { if [ "$1" = arm64 ]; then echo cortex-a72; else echo cortex-a7; fi; }

build_sdist() {
  # per architecture list, so `chroot.sh arm64` and `chroot.sh armhf` can run side by side
  local out=$CACHE/sdist-$(IFS=-; echo "${ARCHES[*]}")
  rm -rf "$out"; mkdir -p "$out"
  # from a clean copy of the checkout: no build products, no egg-info from earlier runs
  local tmp; tmp=$(mktemp -d /tmp/int8rt-sdist.XXXXXX)
  git -C "$SRC" ls-files -z --cached --others --exclude-standard | \
    (cd "$SRC" && xargs -0 tar -cf - --no-recursion 2>/dev/null) | tar -C "$tmp" -xf -
  # -I: a build/ directory in the current tree would otherwise import as a namespace package
  if python3 -I -c "import build" 2>/dev/null; then
    (cd "$tmp" && python3 -m build --sdist --no-isolation -o "$out" >/dev/null)
  else
    (cd "$tmp" && python3 setup.py -q sdist -d "$out" >/dev/null 2>&1)
  fi
  rm -rf "$tmp"
  SDIST=$(ls "$out"/int8rt-*.tar.gz)
  python3 "$SRC/tools/arm/check_sdist.py" "$SDIST"
}

stamp_lines() {  # LOG cmd...: cmd's output, each line prefixed with the host's time, into LOG
  local log=$1; shift
  "$@" 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(date -u +%H:%M:%S)" "$line"; done \
    > "$log"
}

sdist_digest() { tar -xOzf "$1" | sha256sum | cut -c1-16; }  # contents only, not mtimes

install_sdist() {  # ARCH CPU: a clean install of $SDIST into the rootfs venv
  local arch=$1 c0=$2 name iso=""
  # a fresh venv per run would cost a pip round; instead uninstall what a previous run left
  chroot_run "$c0" pip uninstall -q -y int8rt >/dev/null 2>&1 || true
  rm -rf "$ROOTFS/work"; mkdir -p "$ROOTFS/work"
  cp "$SDIST" "$ROOTFS/work/"
  name=$(basename "$SDIST")
  [ "$arch" = armhf ] && iso="--no-build-isolation"
  # the C build runs emulated gcc: the slowest step. `pip wheel` + `pip install` of that wheel
  # is what `pip install ./sdist` does in one go; two steps only to measure the wheel.
  # -v and a host-side time stamp per output line ($CACHE/pip-wheel-ARCH.log): which compile
  # step the time goes to (docs/PLATFORMS.md); pipefail keeps pip's exit status
  t "pip wheel from sdist ($arch, emulated build)" stamp_lines "$CACHE/pip-wheel-$arch.log" \
      chroot_run "$c0" sh -c "cd /work && pip wheel -v --no-cache-dir --no-deps $iso \
      -w /work/wheel ./$name"
  t "pip install the wheel ($arch)" chroot_run "$c0" sh -c \
      "cd /work && pip install -q --no-cache-dir /work/wheel/int8rt-*.whl"
  ls -l "$ROOTFS"/work/wheel/int8rt-*.whl | awk -v a="$arch" '{print "wheel (" a "): " $5 " bytes " $9}' |
    sed "s|$ROOTFS||" | tee -a "$LOG"
  # the prebuilt wheel a Pi user can `pip install` (docs/PLATFORMS.md), kept out of the rootfs
  mkdir -p "$CACHE/wheels"
  cp "$ROOTFS"/work/wheel/int8rt-*.whl "$CACHE/wheels/"
}

run_arch() {
  local arch=$1 cpus tests
  if [ "$arch" = arm64 ]; then cpus=${ARM64_CPUS:-"cortex-a76 cortex-a72"}; tests=$ARM64_TESTS
  else cpus=${ARMHF_CPUS:-"cortex-a7"}; tests=$ARMHF_TESTS; fi
  make_rootfs "$arch"
  mounts_on
  local c0; c0=$(first_cpu "$arch")
  if [ "${INSTALL:-pip}" = keep ]; then
    echo "INSTALL=keep: testing the int8rt already installed in $arch"
  elif [ "${INSTALL:-pip}" = cross ]; then
    mkdir -p "$ROOTFS/work"
    t "cross build + copy ($arch, host gcc; not the pip path)" \
      bash "$SRC/tools/arm/cross_install.sh" "$arch" "$SDIST" /opt/xsite
  elif [ "${REUSE_INSTALL:-0}" = 1 ] && [ -f "$ROOTFS/work/$(basename "$SDIST")" ] &&
     [ "$(sdist_digest "$SDIST")" = "$(sdist_digest "$ROOTFS/work/$(basename "$SDIST")")" ] &&
     ls "$ROOTFS"/opt/venv/lib/python3*/site-packages/int8rt/_native/_libint8rt*.so >/dev/null 2>&1; then
    echo "REUSE_INSTALL=1: int8rt from this same sdist is already installed in $arch"
  else
    install_sdist "$arch" "$c0"
  fi
  # the tests, copied (not bind-mounted) into /work, which has no int8rt/ directory: the
  # installed package is the one imported. pyproject.toml only for pytest's settings.
  rm -rf "$ROOTFS/work/tests" "$ROOTFS/work/tools"
  tar -C "$SRC" --exclude=__pycache__ -cf - tests tools/arm/model_hashes.py \
    tools/arm/platform_info.py pyproject.toml | tar -C "$ROOTFS/work" -xf -
  local first=1 sel
  for cpu in $cpus; do
    # the first CPU model runs $tests; the others the quick list (the gemm users + session)
    if [ $first = 1 ]; then sel=$tests; else sel=$QUICK_TESTS; fi
    first=0
    chroot_run "$cpu" sh -c "cd /tmp && python /work/tools/arm/platform_info.py --runs 3" |
      sed "s/^/[$arch $cpu, emulated] /" | tee -a "$LOG"
    # shellcheck disable=SC2086
    t "pytest $arch $cpu ($sel)" chroot_run "$cpu" sh -c \
        "cd /work && python -m pytest -q -p no:cacheprovider $sel 2>&1 | tail -n 25" |
        tee "$CACHE/pytest-$arch-$cpu.log"
    tail -n 1 "$CACHE/pytest-$arch-$cpu.log" | sed "s/^/[$arch $cpu] /" >> "$LOG"
    if grep -qE '[0-9]+ passed' "$CACHE/pytest-$arch-$cpu.log" &&
       ! grep -qE '[0-9]+ (failed|errors?)' "$CACHE/pytest-$arch-$cpu.log"; then :
    else echo "FAIL: pytest $arch $cpu" | tee -a "$LOG"; FAILED=1; fi
  done
  if [ "${HASHES:-1}" = 1 ]; then
    # the x86 side (make_hashes, a background job) holds models.lock while it writes
    flock "$CACHE/models.lock" true
    [ -s "$CACHE/hashes-x86.txt" ] || { echo "FAIL: no x86 model hashes" | tee -a "$LOG"; FAILED=1; }
    cp "$CACHE"/models/*.i8 "$CACHE"/models/*.npy "$ROOTFS/work/" 2>/dev/null || true
    for cpu in $cpus; do
      t "model hashes $arch $cpu" chroot_run "$cpu" sh -c \
          "cd /tmp && python /work/tools/arm/model_hashes.py run /work" \
          | tee "$CACHE/hashes-$arch-$cpu.txt"
    done
  fi
  mounts_off
  return "$FAILED"
}

need_pkgs qemu-user-static debootstrap zstd
XSITE=""
[ "${INSTALL:-pip}" = cross ] && XSITE=/opt/xsite
[ "${INSTALL:-pip}" = keep ] && [ -n "${KEEP_XSITE:-}" ] && XSITE=/opt/xsite
binfmt_on
FAILED=0
if [ "${ROOTFS_ONLY:-0}" = 1 ]; then for a in "${ARCHES[@]}"; do make_rootfs "$a"; done; exit 0; fi
for a in "${ARCHES[@]}"; do rm -f "$CACHE"/hashes-"$a"-*.txt; done
echo "=== $(date -u) chroot.sh ${ARCHES[*]} (cache $CACHE)" >> "$LOG"
t "sdist (host)" build_sdist
make_hashes() {
  if [ ! -f "$CACHE/models/mobilenet_v2.i8" ] || [ ! -s "$CACHE/hashes-x86.txt" ]; then
    # kept across runs: the quantized models and their x86 hashes depend only on the checkout
    # (delete $CACHE/models after changing the quantizer or the kernels)
    # a clean checkout has no x86 build yet: model_hashes.py imports the checkout's int8rt
    if ! ls "$SRC"/int8rt/_native/_libint8rt*.so >/dev/null 2>&1; then
      t "x86 build_ext --inplace (host, for the model hashes)" sh -c \
        "cd '$SRC' && python3 setup.py build_ext --inplace -j 2 >'$CACHE/x86-build.log' 2>&1" ||
        { tail -n 20 "$CACHE/x86-build.log"; return 1; }
    fi
    t "x86 model outputs (host)" python3 "$SRC/tools/arm/model_hashes.py" make "$CACHE/models" \
      | tee "$CACHE/hashes-x86.txt"
  fi
}
HASH_PID=""
if [ "${HASHES:-1}" = 1 ]; then
  # one writer (this job, or another chroot.sh on the same cache); the lock is taken before
  # the architectures start, so their hash step waits for it
  exec 9>"$CACHE/models.lock"
  flock 9
  ( make_hashes; flock -u 9 ) &
  HASH_PID=$!
  exec 9>&-
fi
# one job per architecture: its own ROOTFS, mounts (and their cleanup), FAILED and log
declare -A ARCH_PID
for a in "${ARCHES[@]}"; do
  ( trap mounts_off EXIT; FAILED=0; run_arch "$a" ) > >(tee "$CACHE/run-$a.log" | sed -u "s/^/[$a] /") 2>&1 &
  ARCH_PID[$a]=$!
done
[ -z "$HASH_PID" ] || wait "$HASH_PID" || { echo "FAIL: x86 model outputs" | tee -a "$LOG"; FAILED=1; }
for a in "${ARCHES[@]}"; do
  wait "${ARCH_PID[$a]}" || { echo "FAIL: $a (see $CACHE/run-$a.log)" | tee -a "$LOG"; FAILED=1; }
done
if [ "${HASHES:-1}" = 1 ]; then
  for f in $(for a in "${ARCHES[@]}"; do ls "$CACHE"/hashes-"$a"-*.txt 2>/dev/null; done); do
    if python3 "$SRC/tools/arm/model_hashes.py" compare "$CACHE/hashes-x86.txt" "$f"; then
      echo "bit-identical: $(basename "$f")" | tee -a "$LOG"
    else
      echo "FAIL: outputs differ: $(basename "$f")" | tee -a "$LOG"; FAILED=1
    fi
  done
fi
echo "total $(( SECONDS - T_ALL )) s" | tee -a "$LOG"
[ "$FAILED" = 0 ]
