import sys, os, time, collections, glob
pid, secs = sys.argv[1], float(sys.argv[2])
hz = os.sysconf('SC_CLK_TCK')
def snap():
    d = {}
    for t in glob.glob(f'/proc/{pid}/task/*'):
        try:
            s = open(t + '/stat').read(); io = dict(l.split(': ') for l in open(t + '/io').read().split('\n') if l)
        except Exception: continue
        comm = s[s.index('(')+1:s.rindex(')')]; rest = s[s.rindex(')')+2:].split()
        d[t] = (comm, int(rest[11]) + int(rest[12]), int(io['rchar']), int(io['wchar']), int(io['syscr']), int(io['syscw']))
    return d
a = snap(); t0 = time.time(); time.sleep(secs); b = snap(); el = time.time() - t0
c = collections.defaultdict(lambda: [0, 0, 0, 0, 0])
for k, v in b.items():
    base = a.get(k, (v[0], 0, 0, 0, 0, 0))
    for i in range(5): c[v[0]][i] += v[i+1] - base[i+1]
print(f"window {el:.2f}s")
for comm, v in sorted(c.items(), key=lambda x: -x[1][0]):
    if any(v): print(f"{comm:<20} cpu {v[0]*1000/hz/el:8.1f} ms/s  rchar {v[1]/el/1e6:8.2f} MB/s  wchar {v[2]/el/1e6:8.2f} MB/s  syscr {v[3]/el:9.0f}/s  syscw {v[4]/el:9.0f}/s")
