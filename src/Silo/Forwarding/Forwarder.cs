using System.Collections.Concurrent;
using Middleware.Protocol;

namespace Middleware.Silo;

/// <summary>
/// Sends requests on to the silo that owns their component, over one multiplexed connection per peer silo, and gives
/// up on a forward whose owner stops being a live silo meanwhile (a paused or cut-off owner keeps its TCP connection
/// open and would otherwise hold the request until a timeout). Giving up is safe: if the old owner still ran it, its
/// record was either durable before the new owner's claim (the new owner answers it from the log) or it is fenced.
/// </summary>
internal sealed class Forwarder(ConnectionOptions peerOptions, SiloOptions options, TimeProvider time) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, PeerConnection> _peers = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Forwards <paramref name="request"/> (already flagged <see cref="InvokeFlags.Forwarded"/>) to <paramref name="owner"/>
    /// and returns its reply, or null once the owner is no longer live in <paramref name="membership"/>'s view.
    /// Connection failures throw (the caller decides whether to wait for the cluster to declare the owner dead).
    /// </summary>
    public async Task<ReplyMessage?> ForwardAsync(string owner, InvokeMessage request, ClusterMembership? membership, CancellationToken cancellationToken)
    {
        var connection = await Peer(owner).GetAsync(cancellationToken).ConfigureAwait(false);
        var reply = connection.InvokeAsync(request, cancellationToken);
        if (membership is null) return await reply.ConfigureAwait(false);
        var interval = options.HeartbeatInterval;
        while (true)
        {
            var done = await Task.WhenAny(reply, Task.Delay(interval, time, cancellationToken)).ConfigureAwait(false);
            if (done == reply) return await reply.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (!membership.Live.Any(s => string.Equals(s.Address, owner, StringComparison.OrdinalIgnoreCase)))
            {
                _ = reply.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
                return null;
            }
        }
    }

    /// <summary>The connection to the silo at <paramref name="address"/> (shared with forwarding; connects when needed).</summary>
    public Task<MiddlewareConnection> ConnectAsync(string address, CancellationToken cancellationToken) => Peer(address).GetAsync(cancellationToken);

    private PeerConnection Peer(string address) => _peers.GetOrAdd(address, a => new PeerConnection(a, peerOptions));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var peer in _peers.Values) await peer.DisposeAsync().ConfigureAwait(false);
        _peers.Clear();
    }
}
