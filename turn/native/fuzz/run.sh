#!/bin/sh
# Build the fuzz harness with AddressSanitizer + UndefinedBehaviorSanitizer and run it.
# Usage: turn/native/fuzz/run.sh [iterations] [seed]   (output binary in turn/native/build/)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../build/fuzz_relay"
mkdir -p "$here/../build"
${CXX:-g++} -std=gnu++17 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
  -I"$here/../src" "$here/fuzz_relay.cc" "$here/../src/relay.cc" "$here/../src/stun.cc" -o "$out"
"$out" "${1:-1000000}" "${2:-1}"
