import sys, re, collections
rules = [
 ("socket receive/epoll (kernel)", r"sys_recvfrom|sys_epoll|tcp_recvmsg|sock_recvmsg|__x64_sys_read\b"),
 ("socket send (kernel)", r"tcp_sendmsg|sys_sendto|sock_sendmsg|__x64_sys_write\b|sys_sendmsg"),
 ("thread wake/park (futex, sched, spin)", r"futex|LowLevelLifoSemaphore|__schedule|sched_yield|pthread_cond"),
 ("GC allocation slow path", r"gc_heap|GCHeap::Alloc|JIT_New|AllocateObject"),
 ("kernel other", r"\[kernel\.kallsyms\]"),
 ("coreclr (stubs, casts, write barriers)", r"libcoreclr|JIT_|stub "),
 ("collections", r"Dictionary|HashSet|ConcurrentQueue|List`1"),
 ("string/utf8", r"String::|Utf8|Encoding"),
 ("JSON / args decode+reply encode", r"Json|PrimitiveJson|DecodeArgs|EncodeResult"),
 ("record encode + CRC", r"RecordCodec|EncodeTurn|RecordChecksum|Crc32"),
 ("frame decode/encode (protocol)", r"Protocol\.|FrameReader|FrameWriter|Frame::|RecentStrings|Codec"),
 ("telemetry", r"Telemetry|Histogram|RequestLatency|Metric"),
 ("activation / turn", r"Activation|LiveTurnContext|TurnCalls|ComponentMethod|Deposit"),
 ("router / runtime", r"ClusterRouter|LocalRuntime|RuntimeFrameHandler|TimedFrameHandler"),
 ("transport connection", r"ServerConnection|Transport"),
 ("async machinery", r"AsyncStateMachineBox|ExecutionContext|ThreadPoolWorkQueue|Task::|ValueTask|TaskCompletionSource"),
]
rules=[(n,re.compile(p)) for n,p in rules]
c=collections.Counter(); tot=0; cur=None; fr=[]; other=collections.Counter()
def flush():
    global tot
    if cur is None or not cur.startswith(sys.argv[2]): return
    tot+=1
    st="\n".join(fr)
    for n,r in rules[:3]:
        if r.search(st): c[n]+=1; return
    for f in fr:
        for n,r in rules[3:]:
            if r.search(f): c[n]+=1; return
    c["other"]+=1; other[re.sub(r"^\s*[0-9a-f]+ ","",fr[0] if fr else "?")[:100]]+=1
for line in open(sys.argv[1],errors="replace"):
    if not line.strip(): flush(); cur=None; fr=[]; continue
    if not line.startswith(("\t"," ")):
        flush(); fr=[]; cur=re.sub(r"\s+\d+\s*$","",line.rstrip())
    else: fr.append(line.strip())
flush()
print(f"{sys.argv[2]}: {tot} samples")
for k,v in c.most_common(): print(f"  {100*v/tot:5.1f}%  {k}")
for k,v in other.most_common(12): print(f"     {100*v/tot:5.1f}%  {k}")
