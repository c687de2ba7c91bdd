#!/usr/bin/env python3
"""preload.py: what the shim costs real programs, side by side with the
plain run, in one go (bench/run.sh runs it; `python3 bench/preload.py -h`).

For each program (the ones tests/integration/test_programs.c checks for
identical output): the plain run, the run under `faultline run` with no
budget (target: at most 1.05x the plain time), and with the budget at 50%
of the plain run's measured peak RSS.  Then a multithreaded malloc
benchmark (bench/mallocbench.c): glibc malloc, the same program under the
shim (jemalloc inside, extents managed, no budget), and preloaded Debian
libjemalloc alone, which separates the allocator's effect from paging's.

Runs are interleaved (plain, shim, budget, plain, ...) so that drifting
load hits every column alike; each figure is the median of --reps runs.
Ratios are printed, never judged: the exit status is nonzero only when a
program failed.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAUNCHER = os.path.join(ROOT, "build", "bin", "faultline")
MALLOCBENCH = os.path.join(ROOT, "build", "bench", "mallocbench")
PEAKRSS = os.path.join(ROOT, "build", "bench", "peakrss")
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"
JEMALLOC_SO = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

PYSCRIPT = """
import gc, hashlib
d = {}
for i in range(150000):
    d['k%d' % i] = [i, str(i) * 3, (i, i * 2)]
lst = [('x' * (i % 50)) + str(i) for i in range(200000)]
class N:
    def __init__(s, v): s.v = v; s.me = s
nodes = [N(i) for i in range(50000)]
del nodes
gc.collect()
h = hashlib.sha256()
for k in sorted(d)[::97]:
    h.update(repr(d[k]).encode())
print(len(d), len(lst), h.hexdigest())
"""

SQL = """pragma cache_size = -65536;
create table t(a integer primary key, b text, c real);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 300000)
  insert into t select x, printf('%08d-%d', (x * 7919) % 1000003, x), x * 0.5 from c;
create index tb on t(b);
select count(*), sum(a), max(b), min(b), avg(c) from t where a % 3 = 0;
"""


def run_once(cmd, stdin=None, before=None):
    """Wall time and peak RSS (KiB, largest process of the tree) of one
    run.  bench/peakrss starts the program: measured from this (large)
    process, a small program would inherit its peak RSS across exec."""
    if before:
        before()
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    t0 = time.monotonic()
    r = subprocess.run([PEAKRSS] + cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    secs = time.monotonic() - t0
    if stdin:
        fin.close()
    err = r.stderr.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError("%s failed with status %d: %s" % (" ".join(cmd[:4]), r.returncode, err[-300:]))
    peak = [l for l in err.splitlines() if l.startswith("peakrss: ")]
    return secs, int(peak[-1].split()[1]) if peak else 0


def median_runs(columns, reps):
    """columns: list of (name, thunk); run each reps times, interleaved."""
    times = {name: [] for name, _ in columns}
    for _ in range(reps):
        for name, thunk in columns:
            times[name].append(thunk())
    return {name: statistics.median(v) for name, v in times.items()}


def fmt_ratio(x, ref):
    return "%.2fx" % (x / ref) if ref > 0 else "-"


def program_table(programs, reps):
    print("%-16s %9s %9s %7s %9s %7s %10s %10s" % (
        "program", "plain s", "shim s", "ratio", "50% s", "ratio", "peak RSS", "budget"))
    failed = 0
    for name, cmd, stdin, before in programs:
        try:
            # The plain run's peak RSS sets the budget (one untimed warm-up run).
            _, peak_kb = run_once(cmd, stdin, before=before)
            budget = "%dK" % max(peak_kb // 2, 64)
            # The fault log is off here (its cost is bench/faultlog.py's
            # to measure, and a private faultlined per run would add its
            # start and stop to every figure).
            shim = [LAUNCHER, "run", "-q", "--socket", "none", "--"] + cmd
            under = [LAUNCHER, "run", "-q", "--socket", "none", "--budget", budget, "--"] + cmd
            m = median_runs([
                ("plain", lambda: run_once(cmd, stdin, before=before)[0]),
                ("shim", lambda: run_once(shim, stdin, before=before)[0]),
                ("budget", lambda: run_once(under, stdin, before=before)[0]),
            ], reps)
        except RuntimeError as e:
            print("%-16s failed: %s" % (name, e))
            failed += 1
            continue
        print("%-16s %9.2f %9.2f %7s %9.2f %7s %7.1f MiB %10s" % (
            name, m["plain"], m["shim"], fmt_ratio(m["shim"], m["plain"]), m["budget"],
            fmt_ratio(m["budget"], m["plain"]), peak_kb / 1024, budget))
        sys.stdout.flush()
    return failed


def malloc_table(reps):
    print("%-22s %12s %12s %7s %12s %7s" % (
        "mallocbench", "glibc Mops/s", "shim Mops/s", "ratio", "jemalloc", "ratio"))
    failed = 0
    for threads in (1, 2, 4):
        args = [MALLOCBENCH, str(threads), "1000000", "4096"]

        def rate(cmd, env=None):
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            if r.returncode != 0:
                raise RuntimeError(r.stderr.strip() or "status %d" % r.returncode)
            return float(r.stdout.split(",")[-1].split()[0])

        je_env = dict(os.environ, LD_PRELOAD=JEMALLOC_SO)
        cols = [("glibc", lambda: rate(args)),
                ("shim", lambda: rate([LAUNCHER, "run", "-q", "--socket", "none", "--"] + args))]
        have_je = os.path.exists(JEMALLOC_SO)
        if have_je:
            cols.append(("jemalloc", lambda: rate(args, je_env)))
        try:
            m = median_runs(cols, reps)
        except RuntimeError as e:
            print("%d threads: failed: %s" % (threads, e))
            failed += 1
            continue
        # Throughput: higher is better, so the ratio is shim over glibc.
        print("%-22s %12.2f %12.2f %7s %12s %7s" % (
            "%d thread%s" % (threads, "s" if threads > 1 else ""), m["glibc"], m["shim"],
            fmt_ratio(m["shim"], m["glibc"]),
            "%.2f" % m["jemalloc"] if have_je else "-",
            fmt_ratio(m["jemalloc"], m["glibc"]) if have_je else "-"))
        sys.stdout.flush()
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=int(os.environ.get("FL_BENCH_REPS", "3")),
                    help="runs per column; the median is reported (default 3, or FL_BENCH_REPS)")
    ap.add_argument("--only", choices=["programs", "malloc"], help="run one of the two tables")
    a = ap.parse_args()
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    for prog in (LAUNCHER, PEAKRSS, MALLOCBENCH):
        if not os.access(prog, os.X_OK):
            print("preload.py: %s is not built; run make first" % prog, file=sys.stderr)
            return 2
    failed = 0
    work = tempfile.mkdtemp(prefix="fl-bench-")
    try:
        if a.only != "malloc":
            text = os.path.join(work, "lines.txt")
            print("preparing inputs (100 MiB of text, a C file) ...", flush=True)
            with open(text, "wb") as f:
                subprocess.run(["base64", "-w", "76"], stdin=subprocess.Popen(
                    ["head", "-c", str(75 << 20), "/dev/urandom"], stdout=subprocess.PIPE).stdout,
                    stdout=f, check=True)
            small = os.path.join(work, "small.txt")
            with open(text, "rb") as src, open(small, "wb") as dst:
                dst.write(src.read(24 << 20))
            gz = os.path.join(work, "small.gz")
            with open(gz, "wb") as f:
                subprocess.run(["gzip", "-6", "-c", small], stdout=f, check=True)
            sql = os.path.join(work, "script.sql")
            with open(sql, "w") as f:
                f.write(SQL)
            db = os.path.join(work, "t.db")
            src = os.path.join(work, "unit.c")
            with open(src, "w") as f:
                f.write("#include <string.h>\n")
                for i in range(1500):
                    f.write("int g%d(int n) { int a[%d]; memset(a, %d, sizeof a); int s = 0;"
                            " for (int i = 0; i < n && i < %d; i++) s += a[i] * (i ^ %d); return s; }\n"
                            % (i, 4 + i % 29, i % 5, 4 + i % 29, i))
            obj = os.path.join(work, "unit.o")

            def fresh_db():
                if os.path.exists(db):
                    os.unlink(db)

            programs = [
                ("python3", [PYTHON, "-c", PYSCRIPT], None, None),
                ("sort 100 MiB", ["env", "LC_ALL=C", "sort", text], None, None),
                ("gzip 24 MiB", ["gzip", "-6", "-c", small], None, None),
                ("gunzip", ["gunzip", "-c", gz], None, None),
                ("sqlite3", ["sqlite3", "-batch", db], sql, fresh_db),
                ("gcc -O2 -c", ["gcc", "-O2", "-c", "-o", obj, src], None, None),
            ]
            print("\n== programs under the shim: median of %d, wall time ==" % a.reps)
            failed += program_table(programs, a.reps)
        if a.only != "programs":
            print("\n== malloc: glibc vs jemalloc inside the shim (no budget), median of %d ==" % a.reps)
            failed += malloc_table(a.reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
