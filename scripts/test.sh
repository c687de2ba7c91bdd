#!/bin/sh
# The README's test command: install what is needed, build, run the tests.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
make -j"$(nproc)" all
make check
