#!/bin/sh
# Builds the http data plane with AddressSanitizer + UBSan (gcc) into native/build/asan/ and runs the
# native twins of the http engine tests against it, with libasan preloaded into node. Leak detection
# is off: node itself does not free everything at exit. UBSan findings abort (halt_on_error). The
# quarantine of freed memory is 64 MB, not ASan's 256 MB: node's own buffers go through ASan's
# allocator too, and a full default quarantine reads as RSS growth in the 1 GB bulk test.
#   sh native/asan.sh [test files...]   (default: test/engines/*-native.test.ts)
set -e
cd "$(dirname "$0")/.."
mkdir -p native/build/asan
g++ -std=c++17 -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -Wno-invalid-offsetof -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS \
  -I/usr/include/node -I"$(node -p "require('node-addon-api').include_dir")" \
  native/src/http-addon.cc native/src/http-plane.cc native/src/http-parse.cc native/src/http-rewrite.cc \
  -o native/build/asan/gracevisor_http.node
export GV_TEST_HTTP_ADDON="$PWD/native/build/asan/gracevisor_http.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:quarantine_size_mb=64"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
[ $# -gt 0 ] || set -- test/engines/*-native.test.ts
exec npx tap --disable-coverage --allow-incomplete-coverage -R tap -j1 "$@"
