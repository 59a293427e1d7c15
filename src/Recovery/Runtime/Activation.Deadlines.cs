using Middleware.Core;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Fencing a request id while the component is busy (call deadlines and deadlock breaking, docs/ARCHITECTURE.md "Call
/// deadlines"). A turn that waits on an outbound call holds the turn lock, so an outcome query about a request queued
/// behind it would wait as long as that turn, forever in a deadlock. While the running turn is <em>parked</em> (every
/// call it made is out, so it touches neither the dedup memory nor the log), the outcome query decides aside: an id
/// that is recorded is committed; the running turn's own id is waited for; any other id has not started (it is queued
/// or not yet arrived, and turns run one at a time) and gets its durable fence record now, appended between the
/// running turn's partial record and its final one. That order is harmless: a fence is not a turn (replay skips it),
/// and it does not touch the state. The queued request then finds its id fenced when it gets the lock. Fences made
/// aside join the dedup memory when the turn resumes (before it can checkpoint).
/// </summary>
internal sealed partial class Activation
{
    private static readonly TimeSpan AsideCheckEvery = TimeSpan.FromMilliseconds(25);
    private readonly object _appendSync = new();
    private int _parked;
    private long _parkChanges;
    private List<(string RequestId, long Seq, Task<ComponentReply> Durable)>? _asideFences;

    /// <summary>A call of the running turn left (see the class summary); paired with <see cref="Unpark"/>.</summary>
    internal void Park()
    {
        lock (_appendSync)
        {
            _parked++;
            _parkChanges++;
        }
    }

    /// <summary>A call of the running turn came back: fences made aside meanwhile join the dedup memory.</summary>
    internal void Unpark()
    {
        lock (_appendSync)
        {
            _parked--;
            _parkChanges++;
            if (_asideFences is not { } fences) return;
            _asideFences = null;
            foreach (var (requestId, seq, durable) in fences)
            {
                _recent[requestId] = new DedupSlot(DedupEntry.AnyArgs, seq, durable);
                _sinceCheckpoint.Add((requestId, seq, DedupEntry.AnyArgs, RequestOutcome.FencedReply(Id, requestId)));
            }
        }
    }

    /// <summary>
    /// Takes the turn lock for an outcome query (null: the caller holds it now), or decides the outcome aside while the
    /// turn holding the lock is parked (see the class summary).
    /// </summary>
    private async Task<RequestOutcome?> WaitTurnOrDecideAsideAsync(string requestId, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (await _turnLock.WaitAsync(AsideCheckEvery, cancellationToken).ConfigureAwait(false)) return null;
            if (await TryDecideAsideAsync(requestId, cancellationToken).ConfigureAwait(false) is { } outcome) return outcome;
        }
    }

    private async Task<RequestOutcome?> TryDecideAsideAsync(string requestId, CancellationToken cancellationToken)
    {
        long changes;
        lock (_appendSync)
        {
            if (_parked == 0) return null;
            changes = _parkChanges;
        }

        // Ids recorded before the latest checkpoint live in the store's dedup table only. Read before deciding; the
        // decision below stands only if the same turn stayed parked throughout (so nothing ran in between).
        var stored = _checkpointSeq != 0 ? await FindRecordedAsync(requestId, cancellationToken).ConfigureAwait(false) : null;
        Task<ComponentReply> reply;
        lock (_appendSync)
        {
            if (_parked == 0 || _parkChanges != changes || !IsActive || _turnLock.CurrentCount != 0) return null;
            if (stored is not null) return RequestOutcome.Of(RecordCodec.DecodeReply(stored.Reply));
            if (_recent.TryGetValue(requestId, out var seen))
            {
                reply = seen.Reply;
            }
            else if (_asideFences?.Find(f => f.RequestId == requestId) is { RequestId: not null } earlier)
            {
                reply = earlier.Durable;
            }
            else
            {
                // The running turn's own request is waited for; nothing is fenced while a turn is in doubt.
                if (_current?.RequestId == requestId || HasTurnInDoubt) return null;
                var (seq, write) = Append(RecordKind.Fence, RecordCodec.EncodeFence(new FenceRecord(requestId)));
                reply = AwaitDurableAsync(write, RequestOutcome.FencedReply(Id, requestId), requestId);
                (_asideFences ??= []).Add((requestId, seq, reply));
            }
        }

        return RequestOutcome.Of(await reply.ConfigureAwait(false));
    }
}
