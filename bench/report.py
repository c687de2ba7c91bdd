#!/usr/bin/env python3
"""report.py: how long the post-mortem commands take on a large fault log
(bench/run.sh runs it).

A database of --faults fault events (10 million by default) is written
once by build/bench/gendb (the daemon's schema; four processes over a
ten-minute run, 2000 stacks each, regions, samples, fault_spans and
stack_faults as the daemon keeps them) and kept in the temporary
directory for the next run.  Then each command runs once to warm the page
cache and --reps times measured; it prints the median wall time with the
range.  The database's size
and modification time are compared before and after: the commands must
not change it.

Timings are reported, never judged: the exit status is nonzero only when
a command fails or the database changed.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(argv):
    """Wall seconds and exit status of argv (output discarded), and its stderr."""
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - t0, r.returncode, r.stderr.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faults", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--db", help="the database (default: one in the temporary directory, made when missing)")
    ap.add_argument("--bin", default=os.path.join(os.environ.get("FL_BIN_DIR", os.path.join(ROOT, "build", "bin")), "faultline"))
    ap.add_argument("--gendb", default=os.path.join(os.environ.get("FL_BENCH_BIN", os.path.join(ROOT, "build", "bench")), "gendb"))
    args = ap.parse_args()

    for exe in (args.bin, args.gendb):
        if not os.access(exe, os.X_OK):
            print(f"report.py: {exe} is not built; run make first", file=sys.stderr)
            return 2
    db = args.db or os.path.join(tempfile.gettempdir(), f"faultline-bench-{args.faults}.db")
    if not os.path.exists(db):
        print(f"writing {db} ({args.faults} faults) with {os.path.basename(args.gendb)} ...", flush=True)
        t0 = time.monotonic()
        r = subprocess.run([args.gendb, db, "--faults", str(args.faults)], stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode(errors="replace"))
            return 1
        print(f"  written in {time.monotonic() - t0:.1f} s")
    st = os.stat(db)
    print(f"database: {db}, {st.st_size / 2**20:.0f} MiB, {args.faults} faults, 4 processes")
    print(f"{args.reps} measured runs after one to warm the page cache; wall time median [min..max]")
    print()

    q = lambda sql: [args.bin, "query", db, sql]
    cases = [
        ("report (all 4 processes, text)", [args.bin, "report", db]),
        ("report --format json", [args.bin, "report", db, "--format", "json"]),
        ("report --pid 42000 (1M faults)", [args.bin, "report", db, "--pid", "42000"]),
        ("report --since 60s --until 120s", [args.bin, "report", db, "--since", "60s", "--until", "120s"]),
        ("query process_summary", q("SELECT * FROM process_summary")),
        ("query stack_totals, top 20", q("SELECT pid, stack, faults, time_ns, function, file, line FROM stack_totals "
                                          "ORDER BY faults DESC LIMIT 20")),
        ("query fault_log of one pid, by kind", q("SELECT kind, count(*), sum(latency_ns) FROM fault_log "
                                                   "WHERE pid = 42000 GROUP BY kind")),
        ("query fault_log, one 10 s window", q("SELECT count(*) FROM fault_spans sp JOIN faults f ON f.id BETWEEN "
                                                "sp.first_id AND sp.last_id WHERE sp.process = 1 AND sp.t_min <= "
                                                "1700000070000000000 AND sp.t_max >= 1700000060000000000 AND f.t_ns "
                                                "BETWEEN 1700000060000000000 AND 1700000070000000000")),
        ("query count(*) FROM faults (all rows)", q("SELECT count(*) FROM faults")),
        ("query faults by kind (a full scan)", q("SELECT kind, count(*) FROM faults GROUP BY kind")),
        ("export --folded", [args.bin, "export", db, "--folded"]),
        ("export --folded --weight time", [args.bin, "export", db, "--folded", "--weight", "time"]),
        ("export --csv stack_totals", [args.bin, "export", db, "--csv", "stack_totals"]),
    ]
    rc = 0
    print(f"{'command':<40} {'median':>9} {'range':>17}")
    for name, argv in cases:
        runs = []
        for i in range(args.reps + 1):
            wall, status, err = run(argv)
            if status != 0:
                print(f"{name:<40} FAILED (status {status}): {err.strip()}")
                rc = 1
                break
            if i:
                runs.append(wall)
        else:
            print(f"{name:<40} {statistics.median(runs):>7.2f} s [{min(runs):6.2f}..{max(runs):6.2f}]", flush=True)
    after = os.stat(db)
    if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        print(f"report.py: {db} changed while the commands read it")
        rc = 1
    for side in ("-wal", "-shm"):
        if os.path.exists(db + side):
            print(f"report.py: {db}{side} appeared")
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
