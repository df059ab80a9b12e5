#!/bin/sh
# Builds the libFuzzer harness with ASan + UBSan (Debian 12: apt-get install -y clang libclang-rt-14-dev).
set -e
cd "$(dirname "$0")"
clang++ -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -o fuzz_parser fuzz_parser.cc ../src/http-parse.cc ../src/http-rewrite.cc
