import sys, re, collections
# usage: buckets.py script.txt [thread-comm-prefix]
path = sys.argv[1]
only = sys.argv[2] if len(sys.argv) > 2 else None
rules = [
 ("fsync (kernel)", r"ext4_sync_file|__x64_sys_fdatasync|__x64_sys_fsync|fdatasync|file_write_and_wait"),
 ("WAL pwrite (kernel copy)", r"__libc_pwrite|ksys_pwrite64|__x64_sys_pwrite"),
 ("file locks (fcntl)", r"fcntl"),
 ("SQLite COMMIT: WAL frames, checksums", r"pagerWalFrames|sqlite3PagerCommitPhaseOne|sqlite3BtreeCommitPhase|walChecksumBytes|sqlite3WalFrames"),
 ("SQLite BEGIN/COMMIT other", r"sqlite3BtreeBeginTrans|BeginImmediate"),
 ("bind (sqlite3_bind_*)", r"sqlite3_bind_|SqliteStatement::Bind"),
 ("SQLite statements (step: INSERT + UPDATE)", r"sqlite3_step|sqlite3VdbeExec|sqlite3_reset|SqliteStatement::Run"),
 ("seal (CRC + record copies)", r"Checksums::Seal|RecordChecksum"),
 ("completing tasks / waking pool", r"TrySetResult|TaskCompletionSource|RunContinuations|ThreadPool|pthread_cond_signal|futex_wake"),
 ("Group (batch to groups)", r"GroupCommitWriter::Group"),
 ("TakeBatch / signal wait", r"TakeBatch|ManualResetEventSlim|LowLevelLifoSemaphore|futex_wait"),
 ("cid lookup", r"CidOf|Dictionary"),
 ("telemetry / observer", r"Telemetry|Committed\(|Histogram"),
 ("GC / allocation", r"gc_heap|GCHeap|Alloc|JIT_New"),
]
rules = [(n, re.compile(p)) for n, p in rules]
counts = collections.Counter(); threads = collections.Counter(); other = collections.Counter()
total = 0
cur = None; frames = []
def flush():
    global total
    if cur is None: return
    comm = cur
    threads[comm] += 1
    if only and not comm.startswith(only): return
    total += 1
    stack = "\n".join(frames)
    for n, r in rules:
        if r.search(stack):
            counts[n] += 1; return
    leaf0 = frames[0] if frames else ""
    if "libe_sqlite3" in leaf0: counts["SQLite engine (leaf only: VDBE, btree, pcache)"] += 1; return
    if "SafeHandle" in leaf0 or "IL_STUB_PInvoke" in leaf0: counts["P/Invoke + SafeHandle ref counting"] += 1; return
    if "libcoreclr" in leaf0: counts["coreclr (alloc, casts, stubs)"] += 1; return
    if "kernel" in leaf0: counts["kernel other"] += 1; return
    if "libc.so" in leaf0: counts["libc (malloc, mutex)"] += 1; return
    counts["other"] += 1
    leaf = frames[0] if frames else "?"
    other[re.sub(r"^\s*[0-9a-f]+ ", "", leaf)[:110]] += 1
for line in open(path, errors="replace"):
    if not line.strip():
        flush(); cur = None; frames = []; continue
    if not line.startswith("\t") and not line.startswith(" "):
        flush(); frames = []
        cur = re.sub(r"\s+\d+\s*$", "", line.rstrip())
        cur = re.sub(r"\d+$", "", cur).strip()
    else:
        frames.append(line.strip())
flush()
T = sum(threads.values())
print("threads (share of process samples):")
for k, v in threads.most_common(): print(f"  {100*v/T:5.1f}%  {k}")
print(f"buckets for {only or 'all'} ({total} samples):")
for k, v in counts.most_common(): print(f"  {100*v/total:5.1f}%  {k}")
print("top 'other' leaves:")
for k, v in other.most_common(15): print(f"  {100*v/total:5.1f}%  {k}")
