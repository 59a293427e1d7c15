using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The claim an activation makes with its first write (<see cref="ILogStore.SupportsClaimInAppend"/>): every item the
/// activation queues on the group-commit writer carries it. The writer puts <see cref="Claim"/> on the group of the first
/// item it takes (<see cref="AppendGroup.Claim"/>), so the store decides the claim and that write in one transaction; once
/// the claim is refused (or its commit failed, so nobody can tell), every later item of the activation is fenced without
/// reaching the store: the loser of two claimers that expected the same epoch never writes under the winner's epoch.
/// </summary>
internal sealed class ClaimTicket(AppendClaim claim, IClaimWatcher? watcher = null)
{
    private readonly TaskCompletionSource<ClaimResult> _decided = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The claim.</summary>
    public AppendClaim Claim { get; } = claim;

    /// <summary>Completes with the store's decision once the transaction that carried the claim committed (or faults with its failure).</summary>
    public Task<ClaimResult> Decided => _decided.Task;

    /// <summary>True once the claim succeeded: the activation owns the epoch it stamped its writes with.</summary>
    public bool IsWon => _decided.Task.IsCompletedSuccessfully && _decided.Task.Result.Claimed is not null;

    /// <summary>True once the claim was refused or its commit failed: nothing more of the activation may be written.</summary>
    public bool IsLost => _decided.Task.IsCompleted && !IsWon;

    /// <summary>Set by the group-commit writer (its own thread) when it put the claim in a batch.</summary>
    internal bool Sent { get; set; }

    internal void Decide(ClaimResult result)
    {
        if (!_decided.Task.IsCompleted && watcher is not null)
        {
            try
            {
                if (result.Claimed is not null) watcher.Won(this, result);
                else watcher.Refused(this, result);
            }
            catch (Exception)
            {
                // a throwing log sink must not fail the commit that carried the claim
            }
        }

        _decided.TrySetResult(result);
    }

    internal void Fail(Exception failure) => _decided.TrySetException(failure);
}

/// <summary>
/// Told of a <see cref="ClaimTicket"/>'s decision on the writer's thread, before anything that waits for
/// <see cref="ClaimTicket.Decided"/> resumes (so what the claim is known by, its count and log line, precedes the reply of
/// the turn it rode with), and without a continuation of its own. Not told when the commit that carried the claim failed:
/// the waiters of that write report it. Must be quick and must not block: it runs on the group-commit writer's thread.
/// </summary>
internal interface IClaimWatcher
{
    /// <summary>The claim won: the activation owns the epoch it stamped its writes with.</summary>
    void Won(ClaimTicket ticket, ClaimResult result);

    /// <summary>The claim was refused (a live owner elsewhere, or another claimer first): nothing of the activation is written.</summary>
    void Refused(ClaimTicket ticket, ClaimResult result);
}

/// <summary>
/// The claim that rode in an activation's first write found the component claimed by someone else first (no live silo
/// owns it: the epoch or the log moved since the activation read it). Nothing of the request was written; the runtime
/// retries it on a new activation.
/// </summary>
internal sealed class ClaimConflictException(Middleware.Grains.ComponentId component, string requestId)
    : TurnNotDurableException(component, requestId, "another activation claimed the component first");
