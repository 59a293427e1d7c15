import sys, re, collections
path, pid = sys.argv[1], sys.argv[2]
samples=[]; cur=None
for line in open(path, errors='replace'):
    if not line.strip():
        if cur: samples.append(cur); cur=None
        continue
    if not line[0].isspace():
        m=re.match(r'(.*?)\s+(\d+)/(\d+)', line); cur=(m.group(1).strip(), m.group(2), []) if m else None; continue
    if cur is None: continue
    rest=line.strip().split(' ',1); rest=rest[1] if len(rest)>1 else ''
    m=re.match(r'(.*) \((.*)\)$', rest); sym,dso=(m.group(1),m.group(2)) if m else (rest,'')
    if sym=='[unknown]': sym='['+dso.split('/')[-1]+']'
    cur[2].append(sym)
if cur: samples.append(cur)
mine=[s for s in samples if s[1]==pid]
rules=[ # (category, thread-regex or None, stack substring list) first match wins
 ('GC (collector threads)', r'GC|BGC', None),
 ('JIT / tiering', r'Tiered|Compil', None),
 ('commit: fsync (kernel)', r'group-commit', ['fsync']),
 ('commit: SQLite insert + WAL write', r'group-commit', ['sqlite3','libe_sqlite3','pwrite','Sqlite']),
 ('commit thread: reply continuations (turn end, route, frame handler)', r'group-commit', ['Activation','ClusterRouter','FrameHandler','ServerConnection','LocalRuntime']),
 ('commit: writer loop (batching, completing tasks)', r'group-commit', None),
 ('client: Polly pipeline', None, ['Polly']),
 ('thread pool idle spin/wait', None, ['LowLevelLifoSemaphore::Wait','sched_yield','WorkerThread::WorkerDoWork']),
 ('socket send (kernel+managed)', None, ['__send','sendto','FrameOutbox','ServerConnection.Replies','FlushAsync']),
 ('socket receive + epoll', None, ['recv','epoll','SocketAsyncEngine']),
 ('frame decode/encode', None, ['MessageCodec','FrameParser','FrameWriter','PayloadReader','PayloadWriter','WritePayload']),
 ('record encode (turn record)', None, ['RecordCodec','RecordChecksum','Snapshot(']),
 ('args/result JSON', None, ['DecodeArgs','EncodeResult','EncodeArgs','DecodeResult','JsonSerializer','Utf8Json']),
 ('component method', None, ['Bank.Account','InvokeAsync(object','InvokeValueAsync']),
 ('telemetry (metrics/latency)', None, ['EngineTelemetry','RequestLatency','Telemetry','Histogram','MeterListener','Instrument']),

 ('client: bench worker', None, ['Middleware.Bench']),
 ('dedup / activation lookup', None, ['PrunePastCheckpoint','TryGetValue','StableHash','ConcurrentDictionary']),
]
cnt=collections.Counter()
for comm,_,stack in mine:
    joined='\n'.join(stack)
    for name,tre,subs in rules:
        if tre and not re.search(tre, comm): continue
        if subs and not any(x in joined for x in subs): continue
        cnt[name]+=1; break
    else:
        cnt['async/task machinery, allocation, rest']+=1
n=len(mine)
for k,v in cnt.most_common(): print(f"{v*100/n:5.1f}% {k}")
