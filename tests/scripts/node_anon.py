"""Run node under the shim (argv[1]: the faultline launcher, argv[2]: the
libfaultline.so it preloads) building,
sorting and serializing 300k objects, then, while it waits, read its
/proc/PID/smaps: anonymous memory in userfaultfd-registered mappings
(VmFlags 'um': managed by the shim) against anonymous memory elsewhere
(thread stacks and the shim's own memory included).  Prints
'managed_kib=M outside_kib=O outside_pct=P' and exits 0, or says what
went wrong and exits 1."""
import os
import subprocess
import sys
import tempfile
import time

SCRIPT = r"""
const fs = require('fs');
const a = [];
for (let i = 0; i < 300000; i++) a.push({k: 'key' + i, v: i * 2, s: String(i).repeat(3)});
a.sort((x, y) => (x.s < y.s ? -1 : x.s > y.s ? 1 : 0));
const json = JSON.stringify(a.slice(0, 100000));
fs.writeFileSync(process.argv[1] + '.tmp', String(process.pid));
fs.renameSync(process.argv[1] + '.tmp', process.argv[1]);
const t = setInterval(() => { if (fs.existsSync(process.argv[2])) { clearInterval(t); console.log(a.length, json.length); } }, 10);
"""


def main():
    launcher, lib = sys.argv[1], sys.argv[2]
    d = tempfile.mkdtemp(prefix="fl-node-")
    pidf, gof = os.path.join(d, "pid"), os.path.join(d, "go")
    p = subprocess.Popen([launcher, "run", "-q", "--socket", "none", "--lib", lib, "--", "/usr/bin/node", "-e", SCRIPT,
                          pidf, gof],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not os.path.exists(pidf):
        if p.poll() is not None or time.monotonic() > deadline:
            print("node_anon: node never got there: %s" % p.communicate()[1].decode(errors="replace")[-400:])
            return 1
        time.sleep(0.01)
    pid = int(open(pidf).read())
    managed = outside = 0
    with open("/proc/%d/smaps" % pid) as f:
        vma = None
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                path = head[5] if len(head) > 5 else ""
                vma = {"anon": path == "" or path == "[stack]" or path.startswith("[anon"), "rss": 0}
            elif head[0] == "Rss:" and vma is not None:
                vma["rss"] = int(head[1])
            elif head[0] == "VmFlags:" and vma is not None:
                if vma["anon"]:
                    if "um" in head[1:]:
                        managed += vma["rss"]
                    else:
                        outside += vma["rss"]
                vma = None
    open(gof, "w").close()
    out, err = p.communicate(timeout=60)
    if p.returncode != 0 or b"300000" not in out:
        print("node_anon: node failed (%d): %s" % (p.returncode, err.decode(errors="replace")[-400:]))
        return 1
    total = managed + outside
    print("managed_kib=%d outside_kib=%d outside_pct=%.1f" % (managed, outside, 100.0 * outside / total if total else 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
