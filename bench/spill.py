#!/usr/bin/env python3
"""spill.py: a working set four times what fits in memory, under faultline
with its store spilling to a file and under the kernel swapping to a swap
file on the same disk, side by side in one run.

tests/progs/spiller maps --size MiB of random (incompressible) pages,
fills them, then makes --rounds passes over them in a random order, each
reading every page and rewriting one in four, every page checksummed.
faultline runs it with --budget a quarter of the size, a compressed store
of an eighth (--store-max) and its spill file in --dir; the kernel runs it
plainly with a swap file of its own in the same directory as its only
swap (priority above any other), in a memory cgroup limited to the same
memory (budget + store + --slack MiB for what is not managed).  faultline
runs twice: outside any cgroup (its spill file's pages then sit in the
page cache while RAM is free, as a file's do), and in the same cgroup (the
page cache charged to it, and what the shim itself holds beyond the limit
swapped by the kernel as well).  Runs
alternate, each figure is the median of --reps; the ratio is faultline's
time over the kernel's.  Needs root (swapon, memory cgroups); ratios are
printed, never judged.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import preload  # noqa: E402  (KernelSwap, LAUNCHER, on_term)

SPILLER = os.path.join(os.path.dirname(HERE), "build", "tests", "progs", "spiller")


def run(cmd, ks=None, limit=None):
    """Seconds the command took, or "OOM" when the kernel killed it."""
    if ks:
        ks.limit(limit)
        cmd = ks.prefix + cmd
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    out = r.stdout.decode(errors="replace")
    if r.returncode in (-9, 137):
        return "OOM", ""
    if r.returncode != 0 or "bad=0" not in out:
        raise RuntimeError("%s failed (status %d): %s%s" % (" ".join(cmd[-3:]), r.returncode, out,
                                                           r.stderr.decode(errors="replace")[-600:]))
    return dt, r.stderr.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256, help="MiB of random pages (default 256)")
    ap.add_argument("--rounds", type=int, default=2, help="passes over them (default 2)")
    ap.add_argument("--reps", type=int, default=3, help="runs per side (default 3)")
    ap.add_argument("--slack", type=int, default=8, help="MiB the cgroup has beyond budget + store (default 8)")
    ap.add_argument("--dir", default="/var/tmp", help="where both files go (default /var/tmp)")
    a = ap.parse_args()
    if a.size < 16 or a.reps < 1 or a.rounds < 0 or a.slack < 0:
        ap.error("--size at least 16, --reps at least 1")
    if not os.access(SPILLER, os.X_OK) or not os.access(preload.LAUNCHER, os.X_OK):
        print("spill.py: build first (make)", file=sys.stderr)
        return 2
    budget, store = a.size // 4, a.size // 8
    pages = a.size * 256
    swapfile = os.path.join(a.dir, "faultline-bench-swap.%d" % os.getpid())
    try:
        ks = preload.KernelSwap(2 * a.size << 20, swapfile=swapfile)
    except RuntimeError as e:
        print("spill.py: the kernel's side cannot run: %s" % e, file=sys.stderr)
        return 2
    try:
        limit = (budget + store + a.slack) << 20
        print("%d MiB of random pages, %d rounds; faultline: budget %d MiB, store %d MiB, spill file in %s; "
              "kernel: %s, limit %d MiB" % (a.size, a.rounds, budget, store, a.dir, ks.describe(), limit >> 20))
        fl = [preload.LAUNCHER, "run", "--socket", "none", "--budget", "%dM" % budget, "--store-max",
              "%dM" % store, "--spill", a.dir, "--", SPILLER, str(pages), str(a.rounds)]
        kern = [SPILLER, str(pages), str(a.rounds)]
        F_OUT, F_IN, K = "faultline, no cgroup", "faultline in the cgroup", "kernel memcg + swap file"
        got = {F_OUT: [], F_IN: [], K: []}
        last_err = ""
        for _ in range(a.reps):
            # Outside any cgroup the spill file's pages sit in the page
            # cache while RAM is free (the kernel writes them back and
            # drops them under pressure); in the cgroup they are charged
            # to it, and the kernel may swap the shim's own memory too.
            t, _ = run(fl)
            got[F_OUT].append(t)
            t, last_err = run(fl, ks, limit)
            got[F_IN].append(t)
            t, _ = run(kern, ks, limit)
            got[K].append(t)
        med = {}
        for name, v in got.items():
            done = [x for x in v if not isinstance(x, str)]
            bad = len(v) - len(done)
            med[name] = statistics.median(done) if not bad else None
            print("%-28s %s" % (name, "%.2f s" % med[name] if med[name] is not None
                                 else "OOM %d/%d" % (bad, len(v))))
        k = med[K]
        for name in (F_OUT, F_IN):
            if med[name] is not None and k is not None:
                print("%s / kernel: %.2fx" % (name, med[name] / k))
        for line in last_err.splitlines():
            if ("spilled" in line or "faults " in line or "peak resident" in line or
                    (line.startswith("faultline: ") and "exited" not in line)):
                print("  faultline's last run in the cgroup:%s" % line.split("faultline:", 1)[-1])
    finally:
        ks.close()
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, preload.on_term)
    sys.exit(main())
