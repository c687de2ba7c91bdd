#!/bin/bash
# run.sh: every benchmark in one go, each printing its own table (what
# `make bench` runs).  firsttouch part (a), then the compression benchmark
# when it is built, then zram.sh, which runs firsttouch part (b) with the
# kernel's zram swap-in beside it and the budget workload against the
# kernel.  When zram.sh cannot run here (it says "skipped: why"), part (b)
# runs on its own, against the kernel's anonymous fault instead.  Then
# ingest: faultlined storing fault events into SQLite; report.py: the
# post-mortem commands on a generated 10M-fault log; fork.py: one fork of a
# process with half its memory out of RAM, against the kernel.  Last,
# preload.py: real programs and a malloc benchmark, plain vs under the shim.
#
# Timings are reported, never judged: the exit status is nonzero only when a
# benchmark could not run or saw wrong data.

set -u

here=$(cd "$(dirname "$0")" && pwd)
bin=${FL_BENCH_BIN:-$here/../build/bench}
export FL_BENCH_BIN=$bin
rc=0

for b in firsttouch budget; do
	if [ ! -x "$bin/$b" ]; then
		echo "run.sh: $bin/$b is not built; run make first" >&2
		exit 2
	fi
done

commit=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$here/.." status --porcelain -- preload include 2>/dev/null | grep -q . && echo " (preload/ or include/ modified)")
echo "faultline benchmarks: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), commit $commit$dirty"
# Other work on the machine is the first source of noise: say how busy the
# CPUs were over the second before starting (the load average lags).
cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
read -r b0 i0 < <(cpu)
sleep 1
read -r b1 i1 < <(cpu)
busy=$(awk -v b=$((b1 - b0)) -v i=$((i1 - i0)) 'BEGIN { printf "%.0f", b + i ? 100 * b / (b + i) : 0 }')
echo "CPUs busy over the last second: $busy%$([ "$busy" -gt 10 ] && echo ": other work is running, expect noisier figures")"
echo

echo "==== firsttouch (a) ===="
"$bin/firsttouch" --part a || rc=1

if [ -x "$bin/compress" ]; then
	echo "==== compress ===="
	"$bin/compress" || rc=1
	echo
fi

echo "==== zram: (b) refault with the kernel's swap-in, (d) budget workload ===="
out=$(mktemp)
"$here/zram.sh" | tee "$out"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
if grep -q '^zram: skipped' "$out"; then
	echo
	echo "==== firsttouch (b), without a kernel swap-in to compare ===="
	"$bin/firsttouch" --part b || rc=1
fi
rm -f "$out"

echo
echo "==== ingest: faultlined, fault events into SQLite ===="
if [ -x "$bin/ingest" ]; then
	"$bin/ingest" --daemon "${FL_BIN_DIR:-$here/../build/bin}/faultlined" || rc=1
else
	echo "ingest: not built (it needs faultlined)"
fi

echo
echo "==== report: faultline report, query and export on a 10M-fault log ===="
if [ -x "$bin/gendb" ]; then
	python3 "$here/report.py" || rc=1
else
	echo "report: not built (build/bench/gendb)"
fi

echo
echo "==== fork: one fork with half the memory out of RAM, against the kernel ===="
python3 "$here/fork.py" || rc=1

echo
echo "==== preload: real programs and malloc under the shim vs plain ===="
python3 "$here/preload.py" || rc=1
exit $rc
