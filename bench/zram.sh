#!/bin/bash
# zram.sh: faultline against the kernel's own answer to the same problem.
# The kernel side is bench/budget --mode kernel inside a memory cgroup whose
# limit is the budget, with a zram device (lz4) as its only swap; the
# faultline side is bench/budget --mode pager --budget N with no limit at
# all.  Same working set (twice the budget), same data, same access
# sequences; the table gives the median seconds per pattern over the repeats
# and the ratio faultline/kernel.  With the zram swap on, it also runs
# bench/firsttouch --part b, whose refault table then has the kernel's
# swap-in from zram next to the store's refault.
#
# Needs root, /sys/block/zram0 unused, mkswap/swapon (util-linux) and a
# memory cgroup controller (v1, or v2's memory.max / memory.swap.max).  When
# any of that is missing it prints "skipped: reason" and exits 0: a machine
# that cannot run this is not a failure of faultline.  Whatever it changes
# (swap, zram0, the cgroup) is put back by the EXIT trap.
#
# Environment: WSET (512M), BUDGET (256M), REPEATS (5), PASSES (2),
# SWAPPINESS (100, cgroup v1 only), WARMUP (1: one uncounted round first),
# FL_BENCH_BIN (build/bench).

set -u

here=$(cd "$(dirname "$0")" && pwd)
bin=${FL_BENCH_BIN:-$here/../build/bench}
WSET=${WSET:-512M}
BUDGET=${BUDGET:-256M}
REPEATS=${REPEATS:-5}
PASSES=${PASSES:-2}
SWAPPINESS=${SWAPPINESS:-100}
ZRAM=/sys/block/zram0

skip() {
	echo "zram: skipped: $*"
	exit 0
}

bytes() {
	# 256M -> 268435456 (K, M, G suffixes, powers of two)
	local v=$1 n=${1%[kKmMgG]}
	case $v in
	*[kK]) echo $((n << 10)) ;;
	*[mM]) echo $((n << 20)) ;;
	*[gG]) echo $((n << 30)) ;;
	*) echo "$n" ;;
	esac
}

[ "$(id -u)" = 0 ] || skip "not root (zram, swapon and memory cgroups need root)"
[ -x "$bin/budget" ] || skip "no $bin/budget (build it with make)"
[ -d $ZRAM ] || skip "no $ZRAM (the zram module is not loaded; modprobe zram)"
for t in mkswap swapon swapoff; do
	command -v $t >/dev/null 2>&1 ||
		skip "$t is missing (it is in the Debian package util-linux)"
done
grep -q '^/dev/zram0[[:space:]]' /proc/swaps && skip "zram0 is already in use as swap"
[ "$(cat $ZRAM/disksize)" = 0 ] || skip "zram0 is already set up (disksize $(cat $ZRAM/disksize)); not touching it"
grep -qw lz4 $ZRAM/comp_algorithm || skip "this zram has no lz4 compressor ($(cat $ZRAM/comp_algorithm))"

# The memory controller: v1 where it is mounted, else a cgroup2 mount that
# offers it.
cgv=
cgroot=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
if [ -n "$cgroot" ]; then
	cgv=1
else
	for m in $(awk '$3 == "cgroup2" { print $2 }' /proc/mounts); do
		if grep -qw memory "$m/cgroup.controllers" 2>/dev/null; then
			cgroot=$m
			cgv=2
			break
		fi
	done
fi
[ -n "$cgv" ] || skip "no cgroup memory controller is mounted (v1 memory or v2 with memory)"

budget_bytes=$(bytes "$BUDGET")
wset_bytes=$(bytes "$WSET")
[ "$budget_bytes" -gt 0 ] && [ "$wset_bytes" -gt "$budget_bytes" ] ||
	skip "WSET ($WSET) must be larger than BUDGET ($BUDGET)"

other_swap=$(awk 'NR > 1 { print $1 }' /proc/swaps)
orig_alg=$(sed 's/.*\[\([^]]*\)\].*/\1/' $ZRAM/comp_algorithm)
cg=
swap_on=0
v2_enabled=0
tmp=$(mktemp -d)

cleanup() {
	set +e
	if [ -n "$cg" ] && [ -d "$cg" ]; then
		# The cgroup empties a moment after its last task exits.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$cg" 2>/dev/null && break
			sleep 0.2
		done
		[ -d "$cg" ] && echo "zram: could not remove $cg" >&2
	fi
	[ "$v2_enabled" = 1 ] && echo -memory >"$cgroot/cgroup.subtree_control" 2>/dev/null
	[ "$swap_on" = 1 ] && swapoff /dev/zram0
	echo 1 >$ZRAM/reset
	echo "$orig_alg" >$ZRAM/comp_algorithm 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo lz4 >$ZRAM/comp_algorithm || skip "cannot set zram0's compressor"
# Room for the whole working set, uncompressed: zram only uses what it holds.
echo $((wset_bytes * 2)) >$ZRAM/disksize || skip "cannot size zram0"
mkswap /dev/zram0 >/dev/null || skip "mkswap /dev/zram0 failed"
swapon -p 32767 /dev/zram0 || skip "swapon /dev/zram0 failed"
swap_on=1

cg=$cgroot/faultline-bench.$$
if [ $cgv = 1 ]; then
	mkdir "$cg" || skip "cannot create $cg"
	echo "$budget_bytes" >"$cg/memory.limit_in_bytes" || skip "cannot set memory.limit_in_bytes"
	echo "$SWAPPINESS" >"$cg/memory.swappiness" 2>/dev/null
	limits="cgroup v1 memory.limit_in_bytes=$BUDGET, memory.swappiness=$(cat "$cg/memory.swappiness")"
else
	if ! grep -qw memory "$cgroot/cgroup.subtree_control"; then
		echo +memory >"$cgroot/cgroup.subtree_control" || skip "cannot enable the memory controller in $cgroot"
		v2_enabled=1
	fi
	mkdir "$cg" || skip "cannot create $cg"
	echo "$budget_bytes" >"$cg/memory.max" || skip "cannot set memory.max"
	echo max >"$cg/memory.swap.max" 2>/dev/null
	limits="cgroup v2 memory.max=$BUDGET, memory.swap.max=max, vm.swappiness=$(cat /proc/sys/vm/swappiness)"
fi

echo "zram: kernel side: zram0 lz4 swap ($((wset_bytes * 2 >> 20)) MiB disksize, priority 32767), $limits"
[ -n "$other_swap" ] && echo "zram: note: other swap is on too (lower priority): $other_swap"
echo "zram: faultline side: no limit, --budget $BUDGET; working set $WSET; $REPEATS repeats, alternating"
echo

# The refault table, now that there is a zram swap to compare it with.
bad=0
if [ -x "$bin/firsttouch" ]; then
	"$bin/firsttouch" --part b || bad=1
fi

run_kernel() {
	bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cg" \
		"$bin/budget" --mode kernel --wset "$WSET" --passes "$PASSES" >"$1" 2>&1
	echo "exit $?" >>"$1"
	if [ $cgv = 1 ]; then
		echo "  cgroup peak usage $(($(cat "$cg/memory.max_usage_in_bytes") >> 20)) MiB (limit $BUDGET)" >>"$1"
		echo 0 >"$cg/memory.max_usage_in_bytes" 2>/dev/null
	elif [ -r "$cg/memory.peak" ]; then
		echo "  cgroup peak usage $(($(cat "$cg/memory.peak") >> 20)) MiB (limit $BUDGET)" >>"$1"
	fi
}

run_pager() {
	"$bin/budget" --mode pager --budget "$BUDGET" --wset "$WSET" --passes "$PASSES" >"$1" 2>&1
	echo "exit $?" >>"$1"
}

# One round first that is not counted: in a VM, memory the guest has not
# touched before costs a host fault on first use, and the first runs would
# pay for warming it.
if [ "${WARMUP:-1}" != 0 ]; then
	echo "zram: warm-up round (not counted)..."
	run_kernel "$tmp/warm.kernel"
	run_pager "$tmp/warm.pager"
fi

for r in $(seq 1 "$REPEATS"); do
	# Alternate who goes first: the VM's noise drifts.
	if [ $((r % 2)) = 1 ]; then
		run_kernel "$tmp/kernel.$r"
		run_pager "$tmp/pager.$r"
	else
		run_pager "$tmp/pager.$r"
		run_kernel "$tmp/kernel.$r"
	fi
done

echo "---- kernel + zram, first run ----"
cat "$tmp/kernel.1"
echo
echo "---- faultline, first run ----"
cat "$tmp/pager.1"
echo

# seconds of pattern $2 in run file $1 ("-" if the run did not get there)
secs() {
	awk -v p="$2" '$1 == p && $2 ~ /^[0-9.]+$/ { print $2; found = 1 } END { if (!found) print "-" }' "$1"
}

median() {
	tr ' ' '\n' | grep -v '^-*$' | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "(d) working set $WSET, budget $BUDGET: kernel + zram (lz4) in a memory cgroup vs faultline;"
echo "    median seconds over $REPEATS runs; each run's seconds after the target"
echo
printf "%-11s %13s %13s %7s  %-7s %s\n" pattern "kernel+zram" faultline ratio target "runs: kernel | faultline"
for p in fill sequential zipf uniform; do
	ks= ps=
	for r in $(seq 1 "$REPEATS"); do
		ks="$ks $(secs "$tmp/kernel.$r" $p)"
		ps="$ps $(secs "$tmp/pager.$r" $p)"
	done
	km=$(echo $ks | median)
	pm=$(echo $ps | median)
	ratio=-
	if [ "$km" != - ] && [ "$pm" != - ]; then
		ratio=$(awk -v a="$pm" -v b="$km" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
	fi
	case $p in sequential | zipf) target="<=1.0x" ;; *) target="-" ;; esac
	printf "%-11s %13s %13s %7s  %-7s %s | %s\n" $p "$km" "$pm" "$ratio" "$target" "$(echo $ks)" "$(echo $ps)"
done
echo

# Correctness: every run must verify clean and all must print one checksum.
shopt -s nullglob
sums=$(cat "$tmp"/kernel.* "$tmp"/pager.* "$tmp"/warm.* | awk '$1 == "checksum" { print $2 }' | sort -u)
for f in "$tmp"/kernel.* "$tmp"/pager.* "$tmp"/warm.*; do
	name=$(basename "$f")
	grep -q '^exit 0$' "$f" || { echo "WRONG: run $name: $(grep '^exit' "$f"), $(grep '^verify' "$f" || echo 'no verify line (killed?)')"; bad=1; }
done
nsums=$(echo "$sums" | grep -c .)
if [ "$nsums" != 1 ]; then
	echo "WRONG: runs disagree on the data checksum: $(echo $sums)"
	bad=1
fi
[ $bad = 0 ] && echo "data: every run verified every page; one checksum across all runs ($sums)"
# Slow is reported, never failed; wrong data is a failure.
exit $bad
