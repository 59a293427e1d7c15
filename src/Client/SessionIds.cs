using System.Diagnostics;
using Middleware.Protocol;
using Middleware.Protocol.Control;

namespace Middleware.Client;

/// <summary>
/// Request numbers of the client's virtual session. The store hands them out in reserved blocks, so a resumed session,
/// in this process or after a restart, never reuses a number. The first block comes with the open (or resume,
/// <see cref="ProtocolConstants.SessionOpen"/>), which the store counts; the next ones are further blocks of the open
/// session (<see cref="ProtocolConstants.SessionReserve"/>), which it does not. The next block is fetched in the
/// background when half of the current one is used; a block that lasted under a second makes the next one twice as
/// large (up to a million), so fast clients rarely wait.
/// </summary>
internal sealed class SessionIds(MiddlewareClient client)
{
    private const int FirstBlock = 1000;
    private const int LargestBlock = 1_000_000;
    private readonly object _gate = new();
    private long _next = 1;
    private long _last;
    private (long First, long Last)? _following;
    private Task? _refill;
    private int _block = FirstBlock;
    private long _blockStarted = Stopwatch.GetTimestamp();

    /// <summary>Opens (or resumes) the session and takes its first block.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var (id, first, last, token) = await ReserveAsync(ProtocolConstants.SessionOpen, client.SessionId, client.SessionToken, cancellationToken).ConfigureAwait(false);
        client.SetSession(id, token);
        lock (_gate)
        {
            _next = first;
            _last = last;
        }
    }

    /// <summary>The next request number; waits for a block only when the client outran the background refill.</summary>
    public long Next()
    {
        while (true)
        {
            Task? wait;
            lock (_gate)
            {
                if (_next > _last && _following is { } following)
                {
                    (_next, _last) = following;
                    _following = null;
                }

                if (_next <= _last)
                {
                    var n = _next++;
                    if (_following is null && _refill is null && _last - _next < _block / 2) _refill = Background(RefillAsync());
                    return n;
                }

                wait = _refill ??= Background(RefillAsync());
            }

            // Rare: the whole block went before the refill came back. Typed proxies need the id synchronously.
            wait.GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// A refill nobody may wait for (the block can last until the client is disposed): its failure is observed here, so
    /// it never surfaces as an unobserved task exception; a caller that does wait still gets it.
    /// </summary>
    private static Task Background(Task refill)
    {
        _ = refill.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return refill;
    }

    private async Task RefillAsync()
    {
        try
        {
            var elapsed = Stopwatch.GetElapsedTime(_blockStarted);
            if (elapsed < TimeSpan.FromSeconds(1)) _block = Math.Min(_block * 2, LargestBlock);
            var (_, first, last, _) = await ReserveAsync(ProtocolConstants.SessionReserve, client.SessionId, null, CancellationToken.None).ConfigureAwait(false);
            lock (_gate)
            {
                _following = (first, last);
                _blockStarted = Stopwatch.GetTimestamp();
            }
        }
        finally
        {
            lock (_gate) _refill = null;
        }
    }

    private async Task<(string Id, long First, long Last, string? Token)> ReserveAsync(string operation, string sessionId, string? token, CancellationToken cancellationToken)
    {
        var result = await client.ControlAsync(operation, "$session", sessionId, ControlCodec.Encode(new SessionReserveRequest(_block, token)), cancellationToken).ConfigureAwait(false);
        var block = ControlCodec.DecodeSessionBlock(result, operation);
        return (block.SessionId, block.First, block.Last, block.Token);
    }
}
