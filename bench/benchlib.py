"""Shared helpers of the bench scripts' embedded Python (run-sqlite-steady.sh, run-writer-cpu.sh).

thread_ms(path): CPU ms per second by thread name from a bench/thread-cpu.sh output file (threads of one name summed).
medians(runs_txt, labels, pattern, header, n): one "median [min-max]" line per label over the runs.txt lines that
`pattern` matches (group 1 the label, groups 2..n+1 the figures), after the `header` line.
"""
import re
import statistics


def thread_ms(path):
    threads = {}
    for line in open(path):
        m = re.match(r"\s*([\d.]+) ms/s\s+(.*)$", line.rstrip())
        if m:
            name = m.group(2).strip()
            threads[name] = threads.get(name, 0) + float(m.group(1))
    return threads


def medians(runs_txt, labels, pattern, header, n):
    rows = {}
    for line in open(runs_txt):
        m = re.match(pattern, line)
        if m:
            rows.setdefault(m.group(1), []).append([float(x) for x in m.groups()[1:]])

    def s(vals):
        return f"{statistics.median(vals):.2f} [{min(vals):.2f}-{max(vals):.2f}]"

    print(header)
    for v in labels:
        label = v.split(':')[0]
        r = rows.get(label, [])
        if r:
            print(f"{label:<8} n={len(r)}  " + " | ".join(s([x[i] for x in r]) for i in range(n)))
