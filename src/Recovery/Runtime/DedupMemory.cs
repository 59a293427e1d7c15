using Middleware.Core;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// One request id an activation remembers since its checkpoint: the hash of the arguments it was sent with, the seq of
/// its record, and its reply (a task while the record is not yet durable; a recorded reply is wrapped in a task only
/// when a duplicate asks for it, so remembering 100,000 replayed turns costs no task each). A live turn's slot drops its
/// task once the record is durable (<see cref="Durable"/>): the task is the turn's durable wait, ~180 bytes that every
/// live activation kept for its last turn.
/// </summary>
internal sealed class DedupSlot
{
    private ComponentReply? _recorded;
    private Task<ComponentReply>? _reply;

    /// <summary>A turn of this activation whose reply is released once its record is durable.</summary>
    public DedupSlot(long argsHash, long seq, Task<ComponentReply> reply)
    {
        ArgsHash = argsHash;
        Seq = seq;
        _reply = reply;
    }

    /// <summary>A turn read from the log (replayed or shipped to a mirror): durable, with its recorded reply.</summary>
    public DedupSlot(long argsHash, long seq, ComponentReply recorded)
    {
        ArgsHash = argsHash;
        Seq = seq;
        _recorded = recorded;
    }

    /// <summary>A turn of this activation whose wait is handed over next (<see cref="Pending"/>), told by the wait itself when its record is durable (<see cref="Durable"/>).</summary>
    public DedupSlot(long argsHash, long seq)
    {
        ArgsHash = argsHash;
        Seq = seq;
    }

    public long ArgsHash { get; }

    public long Seq { get; }

    public Task<ComponentReply> Reply => Volatile.Read(ref _reply) ?? (_reply = Task.FromResult(Volatile.Read(ref _recorded)!));

    /// <summary>The reply task of the turn, unless its record is durable already (then the recorded reply stands).</summary>
    public void Pending(Task<ComponentReply> reply)
    {
        // A race with Durable only keeps the (completed) task: Durable writes the reply first, then drops the task.
        if (Volatile.Read(ref _recorded) is null) Volatile.Write(ref _reply, reply);
    }

    /// <summary>The turn's record is durable: <paramref name="reply"/> is its reply, and the wait's task is let go.</summary>
    public void Durable(ComponentReply reply)
    {
        Volatile.Write(ref _recorded, reply);
        Volatile.Write(ref _reply, null);
    }
}

/// <summary>
/// The dedup memory of a component since its checkpoint in the shape an activation keeps it: the request ids by id, and
/// the same in seq order with their replies (what the next checkpoint writes to the store's dedup table). A
/// <see cref="ReplayCursor"/> builds it record by record, so an activation adopts it as it is (a mirror's standby hands
/// over what it built while applying shipments: a takeover does not rebuild it per turn).
/// </summary>
internal sealed class DedupMemory
{
    /// <summary>The request ids remembered, by id.</summary>
    public RecentRequests Recent { get; } = new();

    /// <summary>The same request ids in seq order with their replies (fences with <see cref="Storage.DedupEntry.AnyArgs"/>).</summary>
    public List<(string RequestId, long Seq, long ArgsHash, ComponentReply Reply)> SinceCheckpoint { get; private set; } = [];

    /// <summary>Remembers a request id recorded at <paramref name="seq"/> (a later seq than every one remembered).</summary>
    public void Add(string requestId, long seq, long argsHash, ComponentReply reply)
    {
        reply = Compact(reply);
        Recent[requestId] = new DedupSlot(argsHash, seq, reply);
        SinceCheckpoint.Add((requestId, seq, argsHash, reply));
    }

    /// <summary>
    /// A reply decoded from a record is a slice of the record's whole payload (request id, arguments, recorded values):
    /// kept as it is, each remembered turn would hold that payload until the next checkpoint. Copied out when smaller.
    /// (A live activation evicted with a log tail keeps the tail's replies this way: bench/README.md, "Warm under the cap
    /// (session 15)".)
    /// </summary>
    internal static ComponentReply Compact(ComponentReply reply)
    {
        if (!IsSlice(reply.Result) && !IsSlice(reply.ErrorData)) return reply;
        return reply with { Result = Copy(reply.Result), ErrorData = Copy(reply.ErrorData) };

        static bool IsSlice(ReadOnlyMemory<byte> bytes) =>
            bytes.Length > 0 && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(bytes, out var segment) && segment.Array!.Length > segment.Count;

        static ReadOnlyMemory<byte> Copy(ReadOnlyMemory<byte> bytes) => IsSlice(bytes) ? bytes.ToArray() : bytes;
    }

    /// <summary>A checkpoint at <paramref name="seq"/> is durable: the ids up to it live in the store's dedup table.</summary>
    public void ForgetUpTo(long seq)
    {
        var count = 0;
        while (count < SinceCheckpoint.Count && SinceCheckpoint[count].Seq <= seq) count++;
        if (count == 0) return;
        for (var i = 0; i < count; i++)
        {
            var requestId = SinceCheckpoint[i].RequestId;
            if (Recent.TryGetValue(requestId, out var slot) && slot.Seq <= seq) Recent.Remove(requestId);
        }

        SinceCheckpoint = count == SinceCheckpoint.Count ? [] : SinceCheckpoint.GetRange(count, SinceCheckpoint.Count - count);
    }
}
