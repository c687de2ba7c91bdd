"""Run node under the shim (argv[1]: the faultline launcher, argv[2]: the
libfaultline.so it preloads) building,
sorting and serializing 300k objects, then, while it waits, read its
/proc/PID/smaps (node says when by printing its pid, and waits until its
input ends): anonymous memory in userfaultfd-registered mappings
(VmFlags 'um': managed by the shim) against anonymous memory elsewhere
(thread stacks and the shim's own memory included).  Prints
'managed_kib=M outside_kib=O outside_pct=P' and exits 0, or says what
went wrong and exits 1."""
import subprocess
import sys

SCRIPT = r"""
const a = [];
for (let i = 0; i < 300000; i++) a.push({k: 'key' + i, v: i * 2, s: String(i).repeat(3)});
a.sort((x, y) => (x.s < y.s ? -1 : x.s > y.s ? 1 : 0));
const json = JSON.stringify(a.slice(0, 100000));
// Its pid once the heap is built; then it holds the heap until its input ends.
process.stdout.write('pid ' + process.pid + '\n');
process.stdin.resume();
process.stdin.on('end', () => console.log(a.length, json.length));
"""


def main():
    launcher, lib = sys.argv[1], sys.argv[2]
    p = subprocess.Popen([launcher, "run", "-q", "--socket", "none", "--lib", lib, "--", "/usr/bin/node", "-e", SCRIPT],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline().decode(errors="replace").split()
    if len(first) != 2 or first[0] != "pid":
        p.stdin.close()
        print("node_anon: node never got there: %s" % p.communicate(timeout=60)[1].decode(errors="replace")[-400:])
        return 1
    pid = int(first[1])
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
    out, err = p.communicate(timeout=60)  # closes node's input: it prints and exits
    if p.returncode != 0 or b"300000" not in out:
        print("node_anon: node failed (%d): %s" % (p.returncode, err.decode(errors="replace")[-400:]))
        return 1
    total = managed + outside
    print("managed_kib=%d outside_kib=%d outside_pct=%.1f" % (managed, outside, 100.0 * outside / total if total else 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
