#!/usr/bin/env python3
"""preload.py: what the shim costs real programs, side by side with the
plain run, in one go (bench/run.sh runs it; `python3 bench/preload.py -h`).

For each program (the ones tests/integration/test_programs.c checks for
identical output, perl building a hash, and node when /usr/bin/node is
there): the plain run, the run under
`faultline run` with no budget (target: at most 1.05x the plain time), and
with the budget at 50% of the plain run's measured peak RSS (--fractions
50,25 for more).  Beside each budget, the kernel's answer to the same
problem: the program in a memory cgroup limited to the same budget plus
a slack for what the budget does not cover, swapping to zram (lz4),
where the machine allows it (root, a zram device, a memory cgroup
controller); a run the kernel OOM-kills is said so ("OOM" in that
column).  The slack (--slack auto, the default) is measured per program:
what its run under the shim without a budget held outside managed
memory (the kernel's peak RSS of the largest process less the shim's
managed peak: binary, libraries, stacks, memory the shim leaves alone),
plus 8 MiB for page tables and the page cache it reads through; --slack N
sets N MiB for every program instead.  --engines default,uffd-sigbus gives each
budget a column per engine (the engine that resolves faults in the
faulting thread beside the default one); a uffd-sigbus run that fails or
whose output differs from the plain run's is said so ("fail").  Then a multithreaded malloc
benchmark (bench/mallocbench.c): glibc malloc, the same program under the
shim (jemalloc inside, extents managed, no budget), and preloaded Debian
libjemalloc alone, which separates the allocator's effect from paging's.

Runs are interleaved (plain, shim, budget, plain, ...) so that drifting
load hits every column alike; each figure is the median of --reps runs.
Ratios are printed, never judged: the exit status is nonzero only when a
program failed.
"""
import argparse
import hashlib
import os
import re
import resource
import shutil
import signal
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

NODESCRIPT = """
const a = [];
for (let i = 0; i < 300000; i++) a.push({k: 'key' + i, v: i * 2, s: String(i).repeat(3)});
a.sort((x, y) => (x.s < y.s ? -1 : x.s > y.s ? 1 : 0));
const json = JSON.stringify(a.slice(0, 100000));
console.log(a.length, json.length, require('crypto').createHash('sha256').update(json).digest('hex'));
"""

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


class Killed(Exception):
    """The kernel's OOM killer ended the run."""


class Failed(Exception):
    """A run under an engine that may fail (uffd-sigbus: a system call saw
    EFAULT) exited with an error; the column says so instead of a time."""


def run_once(cmd, stdin=None, before=None, prefix=(), digest=None):
    """Wall time and peak RSS (KiB, largest process of the tree) of one
    run.  bench/peakrss starts the program: measured from this (large)
    process, a small program would inherit its peak RSS across exec.
    prefix: what runs it (the memory cgroup's entry).  digest: a list;
    the output goes to a file (after the timing it is hashed and the hash
    appended) instead of /dev/null."""
    if before:
        before()
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    fout = tempfile.TemporaryFile() if digest is not None else subprocess.DEVNULL
    t0 = time.monotonic()
    r = subprocess.run(list(prefix) + [PEAKRSS] + cmd, stdin=fin, stdout=fout,
                       stderr=subprocess.PIPE)
    secs = time.monotonic() - t0
    if stdin:
        fin.close()
    if digest is not None:
        fout.seek(0)
        h = hashlib.sha256()
        for chunk in iter(lambda: fout.read(1 << 20), b""):
            h.update(chunk)
        fout.close()
        digest.append(h.hexdigest())
    err = r.stderr.decode(errors="replace")
    if prefix and r.returncode in (-9, 137, 128 + 9):
        raise Killed()
    if r.returncode != 0:
        raise RuntimeError("%s failed with status %d: %s" % (" ".join(cmd[:4]), r.returncode, err[-300:]))
    peak = [l for l in err.splitlines() if l.startswith("peakrss: ")]
    return secs, int(peak[-1].split()[1]) if peak else 0


def checked(thunk_digest, want):
    """A run whose output must be the plain run's: Failed when it is not."""
    got = []
    secs = thunk_digest(got)
    if got and got[0] != want:
        raise Failed()
    return secs


class KernelSwap:
    """zram0 (lz4) as swap of the highest priority and one memory cgroup
    (v1, or v2 with the memory controller) that runs are put in, set up
    once and put back by close().  Raises RuntimeError with the reason
    when the machine does not allow it."""

    ZRAM = "/sys/block/zram0"

    def __init__(self, disksize, swapfile=None):
        """swapfile: a path where a swap file of disksize bytes is made
        instead of zram (bench/spill.py: the kernel's swap on disk)."""
        self.cg = None
        self.swap_on = False
        self.v2_enabled = False
        self.touched_zram = False
        self.swapfile = swapfile
        self.made_file = False
        if os.geteuid() != 0:
            raise RuntimeError("not root (zram, swapon and memory cgroups need root)")
        if swapfile:
            self._file_swap(disksize)
            return
        if not os.path.isdir(self.ZRAM):
            subprocess.run(["modprobe", "zram"], stderr=subprocess.DEVNULL)
        if not os.path.isdir(self.ZRAM):
            raise RuntimeError("no %s (the zram module is not loaded)" % self.ZRAM)
        for t in ("mkswap", "swapon", "swapoff"):
            if not shutil.which(t):
                raise RuntimeError("%s is missing (Debian package util-linux)" % t)
        if any(l.startswith("/dev/zram0 ") for l in open("/proc/swaps")):
            raise RuntimeError("zram0 is already in use as swap")
        if self._read("disksize") != "0":
            raise RuntimeError("zram0 is already set up; not touching it")
        if "lz4" not in self._read("comp_algorithm"):
            raise RuntimeError("this zram has no lz4")
        self._find_cgroup_root()
        self.orig_alg = self._read("comp_algorithm").split("[")[1].split("]")[0]
        try:
            self.touched_zram = True
            self._write("comp_algorithm", "lz4")
            self._write("disksize", str(disksize))
            subprocess.run(["mkswap", "/dev/zram0"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["swapon", "-p", "32767", "/dev/zram0"], check=True)
            self.swap_on = True
            self._make_cgroup()
        except (OSError, subprocess.CalledProcessError) as e:
            self.close()
            raise RuntimeError("setting up zram swap and a memory cgroup: %s" % e)
        self.prefix = ["bash", "-c", 'echo $$ >"$0/cgroup.procs" && exec "$@"', self.cg]

    def _file_swap(self, disksize):
        for t in ("mkswap", "swapon", "swapoff", "fallocate"):
            if not shutil.which(t):
                raise RuntimeError("%s is missing (Debian package util-linux)" % t)
        self._find_cgroup_root()
        try:
            self.made_file = True
            subprocess.run(["fallocate", "-l", str(disksize), self.swapfile], check=True)
            os.chmod(self.swapfile, 0o600)
            subprocess.run(["mkswap", self.swapfile], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["swapon", "-p", "32767", self.swapfile], check=True)
            self.swap_on = True
            self._make_cgroup()
        except (OSError, subprocess.CalledProcessError) as e:
            self.close()
            raise RuntimeError("setting up a swap file and a memory cgroup: %s" % e)
        self.prefix = ["bash", "-c", 'echo $$ >"$0/cgroup.procs" && exec "$@"', self.cg]

    def _find_cgroup_root(self):
        mounts = [l.split() for l in open("/proc/mounts")]
        v1 = [m[1] for m in mounts if m[2] == "cgroup" and "memory" in m[3].split(",")]
        if v1:
            self.v, self.root = 1, v1[0]
            return
        self.v, self.root = 2, None
        for m in mounts:
            if m[2] == "cgroup2" and "memory" in open(os.path.join(m[1], "cgroup.controllers")).read().split():
                self.root = m[1]
                return
        raise RuntimeError("no memory cgroup controller is mounted")

    def _make_cgroup(self):
        cg = os.path.join(self.root, "faultline-preload.%d" % os.getpid())
        if self.v == 2 and "memory" not in open(os.path.join(self.root, "cgroup.subtree_control")).read().split():
            with open(os.path.join(self.root, "cgroup.subtree_control"), "w") as f:
                f.write("+memory")
            self.v2_enabled = True
        os.mkdir(cg)
        self.cg = cg
        if self.v == 1:
            self._cg_write("memory.swappiness", "100", quiet=True)
        else:
            self._cg_write("memory.swap.max", "max", quiet=True)

    def _read(self, name):
        with open(os.path.join(self.ZRAM, name)) as f:
            return f.read().strip()

    def _write(self, name, value):
        with open(os.path.join(self.ZRAM, name), "w") as f:
            f.write(value)

    def _cg_write(self, name, value, quiet=False):
        try:
            with open(os.path.join(self.cg, name), "w") as f:
                f.write(value)
        except OSError:
            if not quiet:
                raise

    def describe(self):
        return ("%s, priority 32767; cgroup v%d (%s)" %
                ("swap file %s" % self.swapfile if self.swapfile else "zram0 lz4 swap", self.v,
                 "memory.limit_in_bytes, swappiness 100" if self.v == 1
                 else "memory.max, memory.swap.max=max"))

    def peak_bytes(self):
        """The cgroup's peak usage since the last limit(): None under
        cgroup v2, whose memory.peak limit() does not reset."""
        if self.v != 1:
            return None
        try:
            with open(os.path.join(self.cg, "memory.max_usage_in_bytes")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def limit(self, nbytes):
        self._cg_write("memory.limit_in_bytes" if self.v == 1 else "memory.max", str(nbytes))
        if self.v == 1:
            self._cg_write("memory.max_usage_in_bytes", "0", quiet=True)

    def close(self):
        if self.cg:
            for _ in range(25):
                try:
                    os.rmdir(self.cg)
                    break
                except OSError:
                    time.sleep(0.2)
            self.cg = None
        if self.v2_enabled:
            try:
                with open(os.path.join(self.root, "cgroup.subtree_control"), "w") as f:
                    f.write("-memory")
            except OSError:
                pass
            self.v2_enabled = False
        if self.swap_on:
            subprocess.run(["swapoff", self.swapfile or "/dev/zram0"])
            self.swap_on = False
        if self.made_file:
            try:
                os.unlink(self.swapfile)
            except OSError:
                pass
            self.made_file = False
        if self.touched_zram:
            try:
                self._write("reset", "1")
                self._write("comp_algorithm", self.orig_alg)
            except OSError:
                pass
            self.touched_zram = False


def may_fail(allowed, thunk):
    """Run thunk; where failing is the engine's stated limit, a failure
    becomes the column's "fail" instead of the table's."""
    try:
        return thunk()
    except RuntimeError:
        if allowed:
            raise Failed()
        raise


def median_runs(columns, reps):
    """columns: list of (name, thunk); run each reps times, interleaved."""
    times = {name: [] for name, _ in columns}
    for _ in range(reps):
        for name, thunk in columns:
            try:
                times[name].append(thunk())
            except Killed:
                times[name].append("OOM")
            except Failed:
                times[name].append("fail")
    out = {}
    for name, v in times.items():
        done = [x for x in v if not isinstance(x, str)]
        # A column the OOM killer (or an error) ended even once has no time: say so.
        bad = [x for x in v if isinstance(x, str)]
        out[name] = statistics.median(done) if not bad else "%s %d/%d" % (bad[0], len(bad), len(v))
    return out


def fmt_ratio(x, ref):
    if isinstance(x, str) or isinstance(ref, str):
        return "-"
    return "%.2fx" % (x / ref) if ref > 0 else "-"


def fmt_secs(x):
    return x if isinstance(x, str) else "%.2f" % x


def engine_tag(e):
    """A short column label for an engine ("" for the default one)."""
    return "" if e == "default" else {"uffd-sigbus": "sb", "uffd": "uf", "signal": "sg"}.get(e, e[:3])


def parse_size(text):
    """Bytes of a size as the launcher prints it ("92.8 MiB", "0 B")."""
    num, unit = text.split()
    mult = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
    if unit not in mult:
        raise RuntimeError("cannot read the size %r in faultline run's summary" % text)
    return int(float(num) * mult[unit])


def unmanaged_bytes(cmd, stdin, before):
    """What a run under the shim with no budget holds outside managed
    memory: the largest process's peak RSS less the largest managed peak
    (faultline run's summary)."""
    if before:
        before()
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    r = subprocess.run([LAUNCHER, "run", "--socket", "none", "--"] + cmd, stdin=fin,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if stdin:
        fin.close()
    err = r.stderr.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError("%s under the shim failed with status %d: %s" %
                           (" ".join(cmd[:4]), r.returncode, err[-300:]))
    rss = managed = None
    for line in err.splitlines():
        m = re.match(r"faultline:\s+kernel peak RSS\s+(\S+ \S+)", line)
        if m:
            rss = parse_size(m.group(1))
        m = re.match(r"faultline:\s+peak resident\s+(\S+ \S+) of managed memory", line)
        if m:
            managed = max(managed or 0, parse_size(m.group(1)))
        m = re.match(r"faultline:\s+other processes\s+\d+ \(largest peak resident (\S+ \S+),", line)
        if m:
            managed = max(managed or 0, parse_size(m.group(1)))
    if rss is None or managed is None:
        raise RuntimeError("faultline run printed no summary for %s" % " ".join(cmd[:4]))
    return max(rss - managed, 0)


SLACK_EXTRA = 8 << 20  # page tables, and the page cache a program reads through


def program_table(programs, reps, fractions, kernel, slack, engines=("default",)):
    head = "%-16s %8s %8s %7s" % ("program", "plain s", "shim s", "ratio")
    for p in fractions:
        for e in engines:
            head += " %8s %7s" % ("%d%%%s s" % (p, engine_tag(e)), "/plain")
        if kernel:
            head += " %9s" % "kernel s"
            for e in engines:
                head += " %7s" % ("fl%s/k" % engine_tag(e))
    if kernel:
        head += " %10s" % "peak RSS" + " %8s" % "k slack"
    else:
        head += " %10s" % "peak RSS"
    print(head)
    failed = 0
    for name, cmd, stdin, before in programs:
        try:
            # The plain run's peak RSS sets the budget (one untimed warm-up run).
            ref = []
            _, peak_kb = run_once(cmd, stdin, before=before, digest=ref)
            # The fault log is off here (its cost is bench/faultlog.py's
            # to measure, and a private faultlined per run would add its
            # start and stop to every figure).
            shim = [LAUNCHER, "run", "-q", "--socket", "none", "--"] + cmd
            cols = [
                ("plain", lambda: run_once(cmd, stdin, before=before)[0]),
                ("shim", lambda: run_once(shim, stdin, before=before)[0]),
            ]
            budgets = {}
            row_slack = slack
            if kernel and slack is None:
                row_slack = unmanaged_bytes(cmd, stdin, before) + SLACK_EXTRA
            for p in fractions:
                kb = max(peak_kb * p // 100, 64)
                budgets[p] = kb
                for e in engines:
                    eng = [] if e == "default" else ["--engine", e]
                    under = [LAUNCHER, "run", "-q", "--socket", "none", "--budget", "%dK" % kb] + eng + ["--"] + cmd
                    if e == "uffd-sigbus":
                        # Its stated limit (EFAULT) can end a run or
                        # change its output: both show as "fail".
                        cols.append(("fl%d%s" % (p, e), lambda under=under: checked(
                            lambda d: may_fail(True, lambda: run_once(under, stdin, before=before,
                                                                      digest=d)[0]), ref[0])))
                    else:
                        cols.append(("fl%d%s" % (p, e), lambda under=under: run_once(under, stdin, before=before)[0]))
                if kernel:
                    def in_cgroup(kb=kb, row_slack=row_slack):
                        kernel.limit(kb * 1024 + row_slack)
                        return run_once(cmd, stdin, before=before, prefix=kernel.prefix)[0]
                    cols.append(("k%d" % p, in_cgroup))
            m = median_runs(cols, reps)
        except RuntimeError as e:
            print("%-16s failed: %s" % (name, e))
            failed += 1
            continue
        line = "%-16s %8s %8s %7s" % (name, fmt_secs(m["plain"]), fmt_secs(m["shim"]),
                                       fmt_ratio(m["shim"], m["plain"]))
        for p in fractions:
            for e in engines:
                fl = m["fl%d%s" % (p, e)]
                line += " %8s %7s" % (fmt_secs(fl), fmt_ratio(fl, m["plain"]))
            if kernel:
                line += " %9s" % fmt_secs(m["k%d" % p])
                for e in engines:
                    line += " %7s" % fmt_ratio(m["fl%d%s" % (p, e)], m["k%d" % p])
        line += " %6.1f MiB" % (peak_kb / 1024)
        if kernel:
            line += " %4d MiB" % (row_slack >> 20)
        print(line)
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
    ap.add_argument("--fractions", default="50",
                    help="budgets as percentages of the plain peak RSS, comma-separated (default 50)")
    ap.add_argument("--kernel", choices=["auto", "off"], default="auto",
                    help="the kernel's column (memory cgroup + zram swap): auto where the machine allows it")
    ap.add_argument("--slack", default="auto",
                    help="MiB the cgroup's limit has over the budget, or auto: per program, what "
                         "its run under the shim holds outside managed memory + 8 (default auto)")
    ap.add_argument("--engines", default="default",
                    help="engines for the budget columns, comma-separated: default (faultline's "
                         "choice), uffd, uffd-sigbus, signal (default: default)")
    a = ap.parse_args()
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    try:
        fractions = [int(x) for x in a.fractions.split(",")]
        if not fractions or any(p < 1 or p > 100 for p in fractions):
            raise ValueError
    except ValueError:
        ap.error("--fractions: percentages 1..100 separated by commas, like 50,25")
    engines = [e for e in a.engines.split(",") if e]
    if not engines or any(e not in ("default", "uffd", "uffd-sigbus", "signal") for e in engines):
        ap.error("--engines: default, uffd, uffd-sigbus or signal, separated by commas")
    slack = None
    if a.slack != "auto":
        try:
            slack = int(a.slack) << 20
            if slack < 0:
                raise ValueError
        except ValueError:
            ap.error("--slack: auto, or a number of MiB like 24")
    for prog in (LAUNCHER, PEAKRSS, MALLOCBENCH):
        if not os.access(prog, os.X_OK):
            print("preload.py: %s is not built; run make first" % prog, file=sys.stderr)
            return 2
    failed = 0
    work = tempfile.mkdtemp(prefix="fl-bench-")
    kernel = None
    try:
        if a.only != "malloc" and a.kernel == "auto":
            try:
                kernel = KernelSwap(8 << 30)
                print("kernel column: %s, limit = budget + %s" % (
                    kernel.describe(),
                    "%d MiB (a program whose budget is not much above that is barely\n"
                    "  limited on the kernel's side)" % (slack >> 20) if slack is not None else
                    "slack (\"k slack\": what the program's run under the shim\n"
                    "  held outside managed memory, + 8 MiB)"))
            except RuntimeError as e:
                print("kernel column: skipped: %s" % e)
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
            perl_in = os.path.join(work, "perl.txt")
            with open(text, "rb") as src_f, open(perl_in, "wb") as dst:
                dst.write(src_f.read(35 << 20))
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
            if shutil.which("perl"):
                programs.append(("perl hash 35 MB", ["perl", "-ne",
                                 'chomp; $h{substr($_, 0, 12)} .= substr($_, 12, 8); '
                                 'END { my $n = 0; $n += length($h{$_}) for keys %h; print scalar(keys %h), " $n\\n" }',
                                 perl_in], None, None))
            if os.access("/usr/bin/node", os.X_OK):
                # V8's heap: reserved, then committed piece by piece.
                programs.append(("node 300k objects", ["/usr/bin/node", "-e", NODESCRIPT], None, None))
            print("\n== programs under the shim: median of %d, wall time ==" % a.reps)
            failed += program_table(programs, a.reps, fractions, kernel, slack, engines)
        if a.only != "programs":
            print("\n== malloc: glibc vs jemalloc inside the shim (no budget), median of %d ==" % a.reps)
            failed += malloc_table(a.reps)
    finally:
        if kernel:
            kernel.close()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def on_term(signum, frame):
    # SIGTERM (a timeout, a kill) unwinds like ^C, so that the zram swap
    # and the memory cgroup are put back by main's finally.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    sys.exit(main())
