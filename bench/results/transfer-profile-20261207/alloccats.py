import sys,re,collections
path,total=sys.argv[1],float(sys.argv[2])
lines=open(path).read().split('== by type + first project frame')[1].split('== by type+stack')[0].strip().splitlines()
cats=[
 ('proxy per Context.Call (DispatchProxy reflection, delegate, closure, the proxy\'s Invocation)', lambda t,f: 'LiveTurnContext.Call' in f or 'ComponentProxy.Invoke' in f or 'ComponentProxy.New' in f),
 ('result adapter (TypedCore box)', lambda t,f: 'TypedCore' in f),
 ('call chain parse (cycle check)', lambda t,f: 'CallChain' in f),
 ('wait-for graph edge', lambda t,f: 'WaitForGraph' in f or (t.startswith('Edge') and 'CallDeadlines' in f) or t.startswith('Core.WaitEdge')),
 ('deadlines: CallDeadlines box, CallWait, WhenAny, timer node, closure', lambda t,f: 'CallDeadline' in f),
 ('outbound call: CallComponentAsync box, id/chain/target text, Invocation, OutboundCall, TurnCalls', lambda t,f: 'CallComponentAsync' in f or 'TurnCalls' in f),
 ('router local call: InvokeLiveAsync box', lambda t,f: 'ClusterRouter' in f),
 ('partial record (stabilize: TurnRecord, copies, payload, box)', lambda t,f: 'StabilizeBeforeSend' in f),
 ('turn record payloads (EncodeTurn)', lambda t,f: 'RecordCodec' in f),
 ('durable waits (AwaitDurableAsync box, reply task)', lambda t,f: 'AwaitDurableAsync' in f),
 ('turn: context, values, reply, dedup slot, record, write item, RunTurn/ReleaseAfter boxes', lambda t,f: 'RunTurnAsync' in f or 'ReleaseAfter' in f or 'Activation.Append' in f or 'InvokeSlowAsync' in f or 'PrunePast' in f),
 ('dedup memory growth, checkpoints', lambda t,f: 'WriteCheckpoint' in f),
 ('store/writer: seal copies, groups', lambda t,f: 'Checksums' in f or 'GroupCommitWriter' in f or 'Sqlite' in f),
 ('args/results (ComponentMethod, JSON)', lambda t,f: 'ComponentMethod' in f or 'PrimitiveJson' in f),
 ('client request: decode, frame handler, reply', lambda t,f: 'MessageCodec' in f or 'PayloadReader' in f or 'RuntimeFrameHandler' in f or 'ServerConnection' in f),
 ('component code', lambda t,f: 'Bank.' in f),
]
c=collections.Counter(); covered=0
for l in lines:
    m=re.match(r'\s*([\d.]+)%\s+(.*?)\s+@\s+(.*)',l)
    if not m: continue
    p,t,f=float(m.group(1)),m.group(2),m.group(3)
    covered+=p
    for name,fn in cats:
        if fn(t,f): c[name]+=p; break
    else: c['other']+=p
for k,v in c.most_common(): print(f"{v:5.1f}%  {v*total/100:6.0f} B  {k}")
print(f"covered {covered:.1f}% of sampled bytes")
