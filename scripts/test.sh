#!/bin/sh
# The README's test command: install what is needed, build, run the tests.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
make -j"$(nproc)" all
make check
# The slow tier (sanitizers) runs too unless FL_QUICK=1; its Criterion
# summary is the closing line.
if [ "${FL_QUICK:-0}" != 1 ]; then
	make check-slow
fi
