import sys, json, re, glob, os
# per run: warm rate, silo us/req (json), per-record from the window: group-commit us, preads, WAL KB; checkpointer us, KB; GC us; pool us
def parse(path):
    d = {}
    for l in open(path):
        m = re.match(r"(.+?)\s+cpu\s+([\d.]+) ms/s\s+rchar\s+([\d.]+) MB/s\s+wchar\s+([\d.]+) MB/s\s+syscr\s+(\d+)/s\s+syscw\s+(\d+)/s", l)
        if m: d[m.group(1).strip()] = [float(x) for x in m.groups()[1:]]
    return d
print(f"{'run':<10} {'rate/s':>7} {'silo us/req':>11} | {'writer us':>9} {'preads':>6} {'WAL KB':>6} | {'ckpt us':>7} {'ckpt KB':>7} | {'GC us':>6} {'pool us':>7} | {'rss MiB':>7} | phase")
for j in sorted(glob.glob(sys.argv[1] + "/*.json")):
    lab = os.path.basename(j)[:-5]
    js = json.load(open(j))
    for phase, ext, rate in (("1000 keys", ".small", js["small_keys_per_s"]), ("random 1M", ".win", js["warm_per_s"])):
        if not os.path.exists(j[:-5] + ext): continue
        t = parse(j[:-5] + ext); z = [0]*5
        g = t.get("group-commit", z); c = t.get("wal-checkpoint", z); gc = t.get(".NET Server GC", z); p = t.get(".NET TP Worker", z)
        us = lambda ms: ms * 1000 / rate
        label = phase if ext == ".small" else f"random over {js['components']}"
        cpu = js["silo_cpu_us_per_warm_request"] if ext == ".win" else float("nan")
        print(f"{lab:<10} {rate:7.0f} {cpu:11.1f} | {us(g[0]):9.1f} {g[3]/rate:6.2f} {g[2]*1000/rate:6.2f} | {us(c[0]):7.1f} {c[2]*1000/rate:7.2f} | {us(gc[0]):6.1f} {us(p[0]):7.1f} | {js['silo_rss_mb_end']:7.0f} | {label}")
