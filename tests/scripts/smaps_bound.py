"""Run under the shim: classify every anonymous mapping of this process
from /proc/self/smaps as managed (the shim's fl_ranges_get says so), the
shim's own memory, a stack, .bss, the brk heap or other, after building a
heap of dicts, lists and strings.  Prints one 'class kib' line per class,
the unexplained mappings, and 'other_kib=N managed_kib=M'."""
import ctypes
import gc

data = {i: str(i) * 20 for i in range(200000)}
rows = [[i, 'x' * (i % 64), (i, -i)] for i in range(100000)]
gc.collect()


class Range(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64),
                ("kind", ctypes.c_uint32), ("reserved", ctypes.c_uint32),
                ("resident", ctypes.c_uint64)]


lib = ctypes.CDLL(None)
lib.fl_ranges_get.restype = ctypes.c_long
cap = 8192
buf = (Range * cap)()
n = lib.fl_ranges_get(buf, cap)
if n < 0:
    raise SystemExit("the shim is not running in this process")
ranges = [(buf[i].start, buf[i].end, buf[i].kind) for i in range(min(n, cap))]

vmas = []
with open('/proc/self/smaps') as f:
    for line in f:
        parts = line.split()
        if not parts:
            continue
        if not parts[0].endswith(':') and '-' in parts[0]:
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            path = parts[5] if len(parts) > 5 else ''
            vmas.append({'lo': lo, 'hi': hi, 'perms': parts[1], 'path': path, 'rss': 0})
        elif parts[0] == 'Rss:':
            vmas[-1]['rss'] = int(parts[1])


def overlaps(v, kinds):
    return any(s < v['hi'] and v['lo'] < e for s, e, k in ranges if k in kinds)


totals = {}
unexplained = []
prev = None
for v in vmas:
    path = v['path']
    anon = path == '' or (path.startswith('[') and path not in ('[vdso]', '[vvar]', '[vsyscall]', '[vvar_vclock]'))
    if anon:
        if overlaps(v, (0, 1, 2, 4)):  # every managed kind: not 3, the shim's own
            c = 'managed'
        elif overlaps(v, (3,)):
            c = 'faultline'
        elif path == '[stack]':
            c = 'main stack'
        elif path == '[heap]':
            c = 'brk heap'
        elif v['perms'].startswith('---'):
            c = 'guard'
        elif prev and prev['hi'] == v['lo'] and prev['perms'].startswith('---') and v['hi'] - v['lo'] >= 64 << 10:
            c = 'thread stack'
        elif prev and prev['hi'] == v['lo'] and prev['path'].startswith('/'):
            c = '.bss'
        else:
            c = 'other'
            unexplained.append(v)
        totals[c] = totals.get(c, 0) + v['rss']
    prev = v

for c in sorted(totals):
    print('%-13s %8d KiB' % (c, totals[c]))
for v in unexplained:
    if v['rss']:
        print('unexplained %x-%x %s %d KiB' % (v['lo'], v['hi'], v['perms'], v['rss']))
print('other_kib=%d heap_kib=%d managed_kib=%d' % (totals.get('other', 0), totals.get('brk heap', 0),
                                                   totals.get('managed', 0)))
print(len(data), len(rows))
