# Silo CPU of the transfer workload by component: each sample goes to the innermost (leaf-first) frame that matches a
# bucket, so runtime helpers (allocation, casts, dictionary code) count for the project code that called them.
import sys, re, collections
path = sys.argv[1]
samples=[]; cur=None
for line in open(path, errors='replace'):
    if not line.strip():
        if cur: samples.append(cur); cur=None
        continue
    if not line[0].isspace():
        m=re.match(r'(.*?)\s+(\d+)\s+[\d.]+:', line); cur=(m.group(1).strip(), []) if m else None; continue
    if cur is None: continue
    rest=line.strip().split(' ',1); rest=rest[1] if len(rest)>1 else ''
    cur[1].append(rest)
if cur: samples.append(cur)
frame_rules=[
 ('wait-for graph edges', ['WaitForGraph']),
 ('deadlines (CallDeadlines, the timer, the call wait)', ['CallDeadlineTimer','CallDeadlines','CallWait']),
 ('call chain (cycle check)', ['CallChain']),
 ('proxy: Context.Call, DispatchProxy, result adapter', ['ComponentProxy','generatedProxy','DispatchProxy','LiveTurnContext::Call(']),
 ('partial record (stabilize, encode)', ['StabilizeBeforeSend','EncodePartial','LiveTurnContext::Snapshot']),
 ('turn record encode', ['RecordCodec','EncodeFinal']),
 ('outbound call (LiveTurnContext, TurnCalls, outcome)', ['LiveTurnContext','TurnCalls']),
 ('args/results (ComponentMethod, JSON)', ['ComponentMethod','PrimitiveJson','System.Text.Json']),
 ('router: local call and its reply mapping', ['ClusterRouter','ReplyMapping']),
 ('telemetry', ['EngineTelemetry','InstrumentCollector','RequestLatency']),
 ('component code (Teller, Account)', ['Bank.']),
 ('turn machinery: lock, dedup, context, append, durable wait', ['Activation','LocalRuntime','DedupSlot','RequestIdKnowledge']),
 ('client request: frame handler, decode, reply send', ['RuntimeFrameHandler','ServerConnection','MessageCodec','FrameOutbox','Kestrel','System.Net.Sockets','SocketAsync']),
]
cnt=collections.Counter(); n=0
for comm,stack in samples:
    n+=1
    if re.search(r'GC', comm): cnt['GC threads']+=1; continue
    if re.search(r'Tiered|Compil', comm): cnt['JIT']+=1; continue
    if 'group-commit' in comm:
        j='\n'.join(stack)
        if 'fsync' in j: cnt['writer: fsync']+=1
        elif 'sqlite3' in j or 'libe_sqlite3' in j or 'pwrite' in j or 'Sqlite' in j: cnt['writer: SQLite insert, WAL write']+=1
        else: cnt['writer: batching, sealing, completing writes']+=1
        continue
    name=None
    for fr in stack:
        for b,subs in frame_rules:
            if any(s in fr for s in subs): name=b; break
        if name: break
    if name is None:
        j='\n'.join(stack[:6])
        if any(k in j for k in ['finish_task_switch','futex','sched_yield','schedule','LowLevelLifoSemaphore']): name='pool threads parking/waking'
        elif any(k in j for k in ['recv','send','epoll','tcp_','sock']): name='client request: frame handler, decode, reply send'
        else: name='other pool work (dispatch, continuations)'
    cnt[name]+=1
for k,v in cnt.most_common(): print(f"{v*100/n:5.1f}%  {k}")
print(f"samples {n}")
