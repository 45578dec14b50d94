#!/usr/bin/env bash
# Fast variant of chroot.sh's install step: the extension from the sdist cross-compiled on the
# host (Debian's aarch64 / armhf gcc against the rootfs' Python and numpy headers), then the
# package copied into the rootfs venv. Minutes instead of the ~30 min an emulated gcc needs on
# a busy 2-core machine; it is NOT what a Pi user runs (chroot.sh's pip install is), so use it
# to iterate on tests, not as the packaging check.
#
#   sudo bash tools/arm/cross_install.sh ARCH SDIST|CHECKOUT [DEST]     (ARCH: arm64 | armhf)
#
# CHECKOUT: a source tree with the generated int8rt/_native/*.c (after `setup.py build_ext
# --inplace`), as bench/arm_icount.py uses it. As setup.py does: the C files make one shared
# library (_libint8rt, soname = its file name), each binding module links it ($ORIGIN rpath).
#
# DEST: a directory inside the rootfs (default: the venv's site-packages); chroot.sh with
# INSTALL=cross uses /opt/xsite and puts it on PYTHONPATH, leaving the venv untouched.
#
# Same compiler flags as a pip build there: the target Python's CFLAGS (-DNDEBUG -g -fwrapv -O2
# -Wall on Debian; -g removed and -s at link, as setup.py does for wheels) plus setup.py's
# C_FLAGS (the generated int8rt/_native/*.c at -Os without unwind tables, as setup.py); no
# -march / -mfpu beyond the toolchain default.
# Env: INT8RT_ARM_CACHE (as chroot.sh); ROOTFS (default $INT8RT_ARM_CACHE/rootfs-ARCH);
# KEEP_SYMBOLS=1 keeps the symbol table (a pip build strips it, setup.py; bench/arm_icount.py
# --split needs the function names).
set -euo pipefail
ARCH=$1 SDIST=$(realpath "$2")
CACHE=${INT8RT_ARM_CACHE:-/var/cache/int8rt-arm}
ROOTFS=${ROOTFS:-$CACHE/rootfs-$ARCH}
[ -f "$ROOTFS/.int8rt-ready" ] || { echo "no rootfs: run chroot.sh $ARCH first" >&2; exit 2; }
if [ "$ARCH" = arm64 ]; then CC=aarch64-linux-gnu-gcc TRIPLET=aarch64-linux-gnu
else CC=arm-linux-gnueabihf-gcc TRIPLET=arm-linux-gnueabihf; fi
PY=python3.11
SITE=$ROOTFS/opt/venv/lib/$PY/site-packages
DEST=$ROOTFS${3:-/opt/venv/lib/$PY/site-packages}
NUMPY_INC=$(ls -d "$SITE"/numpy/_core/include "$SITE"/numpy/core/include \
            "$ROOTFS"/usr/lib/python3/dist-packages/numpy/core/include 2>/dev/null | head -n 1 || true)
W=$(mktemp -d /tmp/int8rt-cross.XXXXXX)
trap 'rm -rf "$W"' EXIT
if [ -d "$SDIST" ]; then
  mkdir -p "$W/int8rt-src"
  (cd "$SDIST" && tar --exclude=__pycache__ --exclude='*.so' -cf - csrc int8rt) | tar -C "$W/int8rt-src" -xf -
else
  tar -C "$W" -xzf "$SDIST"
fi
S=$(echo "$W"/int8rt-*)
ls "$S"/int8rt/_native/*.c >/dev/null 2>&1 ||
  { echo "sdist lacks the generated int8rt/_native/*.c" >&2; exit 2; }
mapfile -t MODULES < <(cd "$S" && ls int8rt/_native/*.c | sort)
FLAGS=(-DNDEBUG -fwrapv -O2 -Wall -fPIC -std=c11 -ffp-contract=off -fno-math-errno -Wextra
       -Wno-unused-parameter -Wno-sign-compare -Wno-unused-function
       -DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION -I"$S/csrc/include" -I"$S/csrc"
       -I"$NUMPY_INC" -I"$ROOTFS/usr/include/$PY" -idirafter "$ROOTFS/usr/include")
mapfile -t SOURCES < <(cd "$S" && find csrc -name '*.c' | sort)
SOURCES+=("${MODULES[@]}")
s=$SECONDS
pids=() OBJS=()
# Objects are cached by content ($CACHE/xobj): the key is the compiler, the flags, the file and
# the headers it can see (csrc/**/*.h; for the generated binding modules only the headers
# they include: csrc/include and the few kernel headers their `cdef extern` blocks name, with
# what they include), so editing a kernel recompiles the kernels, not the bindings.
XOBJ=$CACHE/xobj-$ARCH
mkdir -p "$XOBJ"
HDR_ALL=$(cd "$S" && find csrc -name '*.h' | sort | xargs cat | sha256sum | cut -c1-16)
HDR_PUB=$(cd "$S" && { find csrc/include -name '*.h' | sort; echo csrc/kernels/gemm/gemm.h
          echo csrc/kernels/requant/requant.h; echo csrc/kernels/f32conv/f32conv.h; } |
          xargs cat | sha256sum | cut -c1-16)
for f in "${SOURCES[@]}"; do
  mkdir -p "$W/obj/$(dirname "$f")"
  xf=()
  case $f in
    int8rt/*) hdr=$HDR_PUB; xf=(-Os -fno-asynchronous-unwind-tables) ;;  # setup.py: the glue
    *) OBJS+=("$W/obj/$f.o"); hdr=$HDR_ALL ;;
  esac
  flags="${FLAGS[*]} ${xf[*]}"
  key=$( { echo "$CC ${flags//$S/} $hdr"; cat "$S/$f"; } | sha256sum | cut -c1-24)
  if [ -f "$XOBJ/$key.o" ]; then cp "$XOBJ/$key.o" "$W/obj/$f.o"; continue; fi
  ( "$CC" "${FLAGS[@]}" "${xf[@]}" -c "$S/$f" -o "$W/obj/$f.o" && cp "$W/obj/$f.o" "$XOBJ/$key.o" ) &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
LIB=_libint8rt.cpython-311-$TRIPLET.so
STRIP=(-s)
[ "${KEEP_SYMBOLS:-0}" = 1 ] && STRIP=()
mkdir -p "$W/so"
"$CC" -shared "${OBJS[@]}" -lm -pthread "${STRIP[@]}" -Wl,-soname,$LIB -o "$W/so/$LIB"
for f in "${MODULES[@]}"; do
  m=$(basename "$f" .c)
  "$CC" -shared "$W/obj/$f.o" "$W/so/$LIB" -pthread "${STRIP[@]}" '-Wl,-rpath,$ORIGIN' \
    -o "$W/so/$m.cpython-311-$TRIPLET.so"
done
echo "cross build $ARCH: $(( SECONDS - s )) s"
rm -rf "$DEST/int8rt"
mkdir -p "$DEST/int8rt"
(cd "$S/int8rt" && tar --exclude='_native/*.c' -cf - .) | tar -C "$DEST/int8rt" -xf -
cp "$W"/so/*.so "$DEST/int8rt/_native/"
echo "installed into $DEST/int8rt"
