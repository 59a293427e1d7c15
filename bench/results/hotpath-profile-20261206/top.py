import sys, re, collections
# usage: agg.py perf.txt pid [patterns...]
path, pid = sys.argv[1], sys.argv[2]
pats = sys.argv[3:]
samples = []
cur = None
for line in open(path, errors='replace'):
    if not line.strip():
        if cur: samples.append(cur); cur = None
        continue
    if not line.startswith('\t') and not line.startswith(' '):
        m = re.match(r'(.*?)\s+(\d+)/(\d+)', line)
        cur = (m.group(1).strip(), m.group(2), []) if m else None
        continue
    if cur is None: continue
    parts = line.strip().split(' ', 1)
    rest = parts[1] if len(parts) > 1 else ''
    m = re.match(r'(.*) \((.*)\)$', rest)
    sym, dso = (m.group(1), m.group(2)) if m else (rest, '')
    if sym == '[unknown]': sym = '[' + dso.split('/')[-1] + ']'
    cur[2].append(sym)
if cur: samples.append(cur)
mine = [s for s in samples if s[1] == pid]
n = len(mine)
print(f"pid {pid}: {n} samples")
bycomm = collections.Counter(s[0] for s in mine)
print("threads:", ', '.join(f"{c} {v*100/n:.1f}%" for c, v in bycomm.most_common(8)))
selfc = collections.Counter(s[2][0] if s[2] else '?' for s in mine)
print("-- top self")
for k, v in selfc.most_common(int(dict(enumerate(sys.argv)).get(99, 45))):
    print(f"{v*100/n:6.2f}% {k[:160]}")
incl = collections.Counter()
for s in mine:
    for k in set(s[2]): incl[k] += 1
print("-- top inclusive")
for k, v in incl.most_common(120):
    print(f"{v*100/n:6.2f}% {k[:160]}")
