#!/usr/bin/env python3
"""faultlog.py: what logging faults costs the program, side by side with
the same run without a log, in one go (bench/run.sh runs it).

Each workload runs under the shim (LD_PRELOAD, a faultlined of its own on
a temporary socket and database) in six settings: no fault log
(FAULTLINE_SOCKET=none, the reference), the log without stacks, stacks
sampled one in 64 and one in 8, one in 8 with allocation sampling at its
default (FAULTLINE_ALLOC_SAMPLE=512K: the shim's defaults), and a stack
for every fault; all but that one run with allocation sampling off.  The
last column, alloc/8, is the cost of allocation sampling alone: the
defaults against the same log without it.  Workloads:

  faulter   tests/progs/faulter writing 30000 pages with fault-around off
            under a 16 MiB budget: every page a round trip to the
            handler, the worst case for per-fault costs;
  python3   an allocation-heavy script at the default settings, no budget;
  python3@b the same with the budget at 25% of its peak RSS;
  sort      sort(1) of 400000 random lines, no budget (malloc-heavy).

Runs are interleaved across settings so that drifting load hits every
column alike; each figure is the median of --reps runs.  Ratios are
against the no-log column of the same workload.  The number of faults the
daemon stored and the stacks it received are printed too, so a column
that logged nothing is visible.  Timings are reported, never judged.
"""
import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIB = os.path.join(ROOT, "build", "lib", "libfaultline.so")
DAEMON = os.path.join(ROOT, "build", "bin", "faultlined")
FAULTER = os.path.join(ROOT, "build", "tests", "progs", "faulter")
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"

PYSCRIPT = """
d = {}
for i in range(150000):
    d['k%d' % i] = [i, str(i) * 3, (i, i * 2)]
lst = [('x' * (i % 50)) + str(i) for i in range(200000)]
print(len(d), len(lst))
"""

OFF = {"FAULTLINE_ALLOC_SAMPLE": "off"}
SETTINGS = [
    ("no log", dict(OFF, FAULTLINE_SOCKET="none")),
    ("no stacks", dict(OFF, FAULTLINE_STACKS="off")),
    ("1 in 64", dict(OFF, FAULTLINE_STACKS="64")),
    ("1 in 8", dict(OFF, FAULTLINE_STACKS="8")),
    ("8+alloc", {"FAULTLINE_STACKS": "8"}),
    ("all", dict(OFF, FAULTLINE_STACKS="all")),
]


def start_daemon(tmp):
    sock = os.path.join(tmp, "d.sock")
    db = os.path.join(tmp, "log.db")
    r, w = os.pipe()
    p = subprocess.Popen([DAEMON, "--socket", sock, "--db", db, "--ready-fd", str(w), "--log", "warn"],
                         pass_fds=(w,))
    os.close(w)
    ready = os.read(r, 16)
    os.close(r)
    if not ready.startswith(b"ready"):
        sys.exit("faultlog.py: faultlined did not start")
    return p, sock, db


def run(cmd, env_extra, sock):
    env = dict(os.environ)
    env["LD_PRELOAD"] = LIB
    env["FAULTLINE_SOCKET"] = sock
    env.update(env_extra)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("faultlog.py: %s failed (%d): %s" % (cmd[0], p.returncode, p.stderr.decode()[-500:]))
    return t


def peak_rss_kb(cmd):
    pid = os.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    _, status, ru = os.wait4(pid, 0)
    return ru.ru_maxrss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="runs per figure (median), default 3")
    args = ap.parse_args()
    for f in (LIB, DAEMON, FAULTER):
        if not os.access(f, os.R_OK):
            sys.exit("faultlog.py: %s is not built; run make first" % f)

    py = [PYTHON, "-c", PYSCRIPT]
    # A small process reads the python's peak: this driver's own RSS would
    # hide it (the kernel keeps the larger of parent and child).
    py_peak = peak_rss_kb(py)
    workloads = [
        ("faulter", [FAULTER, "30000"], {"FAULTLINE_FAULT_AROUND": "1", "FAULTLINE_BUDGET": "16M"}),
        ("python3", py, {}),
        ("python3@25%", py, {"FAULTLINE_BUDGET": "%dK" % max(py_peak // 4, 1024)}),
    ]
    tmp = tempfile.mkdtemp(prefix="fl-bench-log-")
    lines = os.path.join(tmp, "lines.txt")
    with open(lines, "w") as f:
        rnd = random.Random(17)
        for _ in range(400000):
            f.write("%016x %d\n" % (rnd.getrandbits(64), rnd.randrange(1000000)))
    workloads.append(("sort", ["sort", "-o", os.devnull, lines], {}))
    daemon, sock, db = start_daemon(tmp)
    print("fault-path cost of the fault log: median of %d runs, seconds (ratio to no log)" % args.reps)
    print("%-13s" % "workload" + "".join("%20s" % s[0] for s in SETTINGS) + "%9s" % "alloc/8")
    try:
        for name, cmd, base_env in workloads:
            times = {s[0]: [] for s in SETTINGS}
            for _ in range(args.reps):
                for sname, senv in SETTINGS:
                    env = dict(base_env)
                    env.update(senv)
                    times[sname].append(run(cmd, env, sock))
            ref = statistics.median(times["no log"])
            row = "%-13s" % name
            for sname, _ in SETTINGS:
                t = statistics.median(times[sname])
                row += "%20s" % ("%.3f (%.2fx)" % (t, t / ref))
            row += "%9s" % ("%.2fx" % (statistics.median(times["8+alloc"]) / statistics.median(times["1 in 8"])))
            print(row, flush=True)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
    con = sqlite3.connect(db)
    faults, = con.execute("select count(*) from faults").fetchone()
    stacked, = con.execute("select count(*) from faults where stack != 0").fetchone()
    nst, = con.execute("select count(*) from stacks").fetchone()
    drops, = con.execute("select coalesce(sum(dropped_events), 0) from processes").fetchone()
    print("stored: %d faults (%d with a stack), %d distinct stacks, %d events dropped" % (faults, stacked, nst, drops))
    try:
        nal, = con.execute("select count(*) from allocs where alloc_id != 0").fetchone()
        print("allocation samples stored: %d" % nal)
    except sqlite3.OperationalError:
        pass
    con.close()
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
