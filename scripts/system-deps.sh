#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing (run by `npm test` before the
# suite): redis-server, which the state and cluster tests start on a free port, and the C toolchain for
# wasm32-wasi that builds the guests from source, and chromium, which the dashboard's browser tests drive
# (test/ui/). As root it installs them with apt; otherwise it prints the one apt line to run and fails, so
# that a missing tool is never a confusing test failure later.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v clang >/dev/null || missing+=(clang)
command -v wasm-ld >/dev/null || missing+=(lld)
command -v zstd >/dev/null || missing+=(zstd) # unpacks the WASI test suite (test/wasi/testsuite.ts)
command -v touch >/dev/null || missing+=(coreutils) # nanosecond set_times (src/host/wasi/times.ts)
[ -e /usr/include/wasm32-wasi/stdio.h ] || [ -e /usr/share/wasi-sysroot/include/stdio.h ] || missing+=(wasi-libc)
ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev-wasm32)
# Chromium is optional: without it the browser tests skip, saying why; as root it is installed with the rest.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then missing+=(chromium); else echo "system-deps: chromium is missing: the dashboard's browser tests will skip (apt-get install chromium)" >&2; fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]}" >&2
  echo "system-deps: install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]} (apt)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
