#!/usr/bin/env python3
"""fork.py: what one fork costs a process with half its memory out of RAM,
under faultline and under the kernel, side by side in one run.

bench/forkcost maps --size MiB of compressible text, then forks once; its
child reads one byte in 64 pages and exits.  faultline's sides run it under
`faultline run --budget` at half the size (so half the pages are in the
compressed store when it forks), once handing the evicted pages to the
child (`--fork handoff`, the default) and once bringing them back before
the fork (`--fork bring-back`, what happens without CAP_SYS_PTRACE); the
kernel's side runs it plainly in a
memory cgroup limited to the same budget plus --slack, swapping to zram
(lz4).  Both sides run inside a memory cgroup (faultline's with no limit)
so that the cgroup's peak usage measures the parent, the child and
faultline's store together.  Columns: fork() as the parent sees it, the
child's life (fork to exit, its reads included), and the peak.  Then what
copy-on-write costs: after a fork, the parent writes a byte to every page
of --rewrite-size MiB while its child waits, plainly and under the shim
with no budget, with COW faults logged (`--cow-faults on`, the default)
and not.  Runs alternate; each figure is the median of --reps.  The first
table needs root, zram and cgroup v1 (for the peak); ratios are printed,
never judged.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import preload  # noqa: E402  (KernelSwap, LAUNCHER, on_term)

FORKCOST = os.path.join(os.path.dirname(HERE), "build", "bench", "forkcost")


def one(cmd, ks, limit):
    ks.limit(limit)
    r = subprocess.run(ks.prefix + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode(errors="replace")
    if r.returncode in (-9, 137):
        return None
    if r.returncode != 0 or "ok=1" not in out:
        raise RuntimeError("%s failed (status %d): %s%s" % (" ".join(cmd[-3:]), r.returncode, out,
                                                           r.stderr.decode(errors="replace")[-400:]))
    f = dict(kv.split("=") for kv in out.split())
    return float(f["fork_ms"]), float(f["child_ms"]), ks.peak_bytes()


def side_table(sides, key, reps, title, unit):
    """Run each (name, cmd) of sides reps times, interleaved; each prints
    key=value ... ok=1.  Prints the medians and their ratio to the first."""
    got = {name: [] for name, _ in sides}
    for _ in range(reps):
        for name, cmd in sides:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out = r.stdout.decode(errors="replace")
            if r.returncode != 0 or "ok=1" not in out:
                raise RuntimeError("%s failed (status %d): %s%s" % (name, r.returncode, out,
                                                                   r.stderr.decode(errors="replace")[-400:]))
            got[name].append(float(dict(kv.split("=") for kv in out.split())[key]))
    print("\n%s, median of %d" % (title, reps))
    base = statistics.median(got[sides[0][0]])
    for name, _ in sides:
        m = statistics.median(got[name])
        print("%-30s %8.2f %s %6.2fx" % (name, m, unit, m / base if base else float("inf")))


def cow_table(size, reps):
    """Microseconds per page the parent's writes after fork take: plain,
    and under the shim with and without COW faults."""
    shim = [preload.LAUNCHER, "run", "-q", "--socket", "none"]
    side_table([("plain (the kernel's copy)", [FORKCOST, "--rewrite", str(size)]),
                ("faultline, COW faults logged", shim + ["--cow-faults", "on", "--", FORKCOST, "--rewrite", str(size)]),
                ("faultline, --cow-faults off", shim + ["--cow-faults", "off", "--", FORKCOST, "--rewrite", str(size)])],
               "rewrite_us_per_page", reps,
               "writing every page of %d MiB after a fork, its child alive (each write a copy)" % size, "us/page")


def spawn_table(size, reps):
    """Milliseconds per fork + exec + wait from a process holding size MiB
    under a budget of half: plain, and under the shim both ways."""
    shim = [preload.LAUNCHER, "run", "-q", "--socket", "none", "--budget", "%dM" % (size // 2)]
    side_table([("plain", [FORKCOST, "--spawn", str(size)]),
                ("faultline, --fork handoff", shim + ["--fork", "handoff", "--", FORKCOST, "--spawn", str(size)]),
                ("faultline, --fork bring-back", shim + ["--fork", "bring-back", "--", FORKCOST, "--spawn", str(size)])],
               "spawn_ms_each", reps,
               "fork + exec /bin/true + wait, from a process holding %d MiB (budget %d MiB)" % (size, size // 2),
               "ms each")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=512, help="MiB the process holds (default 512)")
    ap.add_argument("--reps", type=int, default=3, help="runs per side (default 3)")
    ap.add_argument("--slack", type=int, default=8,
                    help="MiB the kernel's cgroup has over the budget (default 8)")
    ap.add_argument("--rewrite-size", type=int, default=256,
                    help="MiB the copy-on-write table writes (default 256)")
    ap.add_argument("--spawn-size", type=int, default=128,
                    help="MiB the fork + exec table's process holds (default 128)")
    a = ap.parse_args()
    if a.size < 16 or a.reps < 1 or a.slack < 0:
        ap.error("--size at least 16, --reps at least 1, --slack not negative")
    if not os.access(FORKCOST, os.X_OK) or not os.access(preload.LAUNCHER, os.X_OK):
        print("fork.py: build first (make)", file=sys.stderr)
        return 2
    budget = a.size // 2
    try:
        ks = preload.KernelSwap(4 * a.size << 20)
    except RuntimeError as e:
        print("fork.py: the kernel's side skipped: %s" % e)
        cow_table(a.rewrite_size, a.reps)
        spawn_table(a.spawn_size, a.reps)
        return 0
    try:
        print("fork of a process holding %d MiB, budget %d MiB; kernel: %s, limit = budget + %d MiB"
              % (a.size, budget, ks.describe(), a.slack))
        shim = [preload.LAUNCHER, "run", "-q", "--socket", "none", "--budget", "%dM" % budget]
        sides = {
            "faultline (pages handed over)": (shim + ["--fork", "handoff", "--", FORKCOST, str(a.size)],
                                              64 << 30),
            "faultline --fork bring-back": (shim + ["--fork", "bring-back", "--", FORKCOST, str(a.size)],
                                            64 << 30),
            "kernel memcg + zram": ([FORKCOST, str(a.size)], (budget + a.slack) << 20),
        }
        got = {k: [] for k in sides}
        for _ in range(a.reps):
            for name, (cmd, limit) in sides.items():
                got[name].append(one(cmd, ks, limit))
        print("%-30s %9s %9s %14s" % ("", "fork ms", "child ms", "peak MiB"))
        med = {}
        for name, runs in got.items():
            done = [r for r in runs if r]
            if not done:
                print("%-30s %s" % (name, "OOM %d/%d" % (len(runs), len(runs))))
                continue
            fork_ms = statistics.median(r[0] for r in done)
            child_ms = statistics.median(r[1] for r in done)
            peaks = [r[2] for r in done if r[2] is not None]
            peak = statistics.median(peaks) / (1 << 20) if peaks else None
            med[name] = (fork_ms, child_ms, peak)
            note = "" if len(done) == len(runs) else "  (OOM %d/%d)" % (len(runs) - len(done), len(runs))
            print("%-30s %9.1f %9.1f %14s%s" % (name, fork_ms, child_ms,
                                                 "%.0f" % peak if peak is not None else "-", note))
        kname = "kernel memcg + zram"
        if kname in med:
            f2, c2, p2 = med[kname]
            for name, (f1, c1, p1) in med.items():
                if name == kname:
                    continue
                print("%s / kernel: fork %.1fx, child %.1fx%s" % (
                    name, f1 / f2 if f2 else float("inf"), c1 / c2 if c2 else float("inf"),
                    ", peak %.2fx" % (p1 / p2) if p1 and p2 else ""))
    finally:
        ks.close()
    cow_table(a.rewrite_size, a.reps)
    spawn_table(a.spawn_size, a.reps)
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, preload.on_term)
    sys.exit(main())
