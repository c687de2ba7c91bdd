#!/bin/sh
# The README's main command: install what is needed, build, run the demo
# workload under the pager with a budget (its own report), then a real
# program under the preloaded shim with its fault log, ending in
# `faultline report` of that log.  Options go to faultline-demo
# (scripts/demo.sh --help).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
make -j"$(nproc)" all
./build/bin/faultline-demo "$@"
case " $* " in *" --help "*|*" -h "*) exit 0 ;; esac

echo
echo "==== python3 under the shim with a 24 MiB budget, fault log in build/demo/faultline.db ===="
mkdir -p build/demo
rm -f build/demo/faultline.db build/demo/faultline.db-wal build/demo/faultline.db-shm
py=/usr/bin/python3
[ -x "$py" ] || py=python3
./build/bin/faultline run --db build/demo/faultline.db --budget 24M --stacks all -- "$py" -c '
d = {}
for i in range(150000):
    d["k%d" % i] = [i, str(i) * 3, (i, i * 2)]
lst = sorted(("x" * (i % 50)) + str(i) for i in range(200000))
print(len(d), len(lst), sum(len(v[1]) for v in d.values()))
'
echo
./build/bin/faultline report build/demo/faultline.db --top 5
