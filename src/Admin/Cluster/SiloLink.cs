using System.Net.Sockets;
using Middleware.Admin.Cli;
using Middleware.Inspection;
using Middleware.Protocol;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Cluster;

/// <summary>
/// The tool's line to the cluster, for the commands only a component's owner may carry out (<c>outcome --fence</c>,
/// <c>move</c>): it connects to a live silo from the silos table, sends one message, follows <c>Moved</c> replies to
/// the silo named, and retries <c>Unavailable</c> replies and lost connections a few times (the same message, so the
/// same request id) before giving up with the reason as an <see cref="AdminException"/>.
/// </summary>
internal sealed class SiloLink : IAsyncDisposable
{
    /// <summary>How many <c>Moved</c> replies one send follows before it gives up (the component keeps moving).</summary>
    public const int MaxRedirects = 8;

    /// <summary>How many times one send is retried after <c>Unavailable</c> or a lost connection.</summary>
    public const int MaxRetries = 5;

    private readonly Dictionary<string, MiddlewareConnection> _connections = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConnectionOptions _options;

    private SiloLink(IReadOnlyList<SiloEntry> live, string? clusterKey, Protocol.Tls.TlsClientOptions? tls)
    {
        Live = live;
        _options = new ConnectionOptions
        {
            SenderId = "mw",
            Role = PeerRole.Admin,
            Key = clusterKey,
            ConnectTimeout = TimeSpan.FromSeconds(3),
            HandshakeTimeout = TimeSpan.FromSeconds(3),
            // A silo waits for an unreachable owner to be declared dead before it answers: longer than its window.
            RequestTimeout = TimeSpan.FromSeconds(60),
            Tls = tls,
        };
    }

    /// <summary>The live silos as the store listed them when the link was opened.</summary>
    public IReadOnlyList<SiloEntry> Live { get; }

    /// <summary>Delay before retry <c>n</c> (1-based) after an Unavailable reply or a lost connection.</summary>
    public static TimeSpan RetryDelay(int retry) => SiloAsking.RetryDelay(retry);

    /// <summary>
    /// A link over the silos the store lists as live, in plain TCP or with <paramref name="tls"/>; none live is an
    /// <see cref="AdminException"/>.
    /// </summary>
    public static async Task<SiloLink> OpenAsync(IClusterStore cluster, string? clusterKey, Protocol.Tls.TlsClientOptions? tls, CancellationToken cancellationToken)
    {
        var live = (await cluster.ListSilosAsync(cancellationToken).ConfigureAwait(false)).Where(s => s.IsLive).ToList();
        if (live.Count == 0)
            throw new AdminException("No live silo in the cluster (mw cluster status lists the silos); this command needs a running silo to carry it out.");
        return new SiloLink(live, clusterKey, tls);
    }

    /// <summary>
    /// Sends <paramref name="message"/> to <paramref name="preferred"/> (an address) when given and reachable, else to
    /// the first live silo that accepts a connection, and returns the first reply that is neither <c>Moved</c> nor
    /// <c>Unavailable</c>.
    /// </summary>
    public async Task<ReplyMessage> SendAsync(InvokeMessage message, string? preferred, CancellationToken cancellationToken)
    {
        var redirects = 0;
        var retries = 0;
        string? target = preferred;
        while (true)
        {
            MiddlewareConnection connection;
            (target, connection) = await ConnectAsync(target, cancellationToken).ConfigureAwait(false);
            ReplyMessage reply;
            try
            {
                reply = await connection.InvokeAsync(message, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsTransient(e))
            {
                await DropAsync(target).ConfigureAwait(false);
                if (++retries > MaxRetries)
                    throw new AdminException($"The cluster did not answer {Describe(message)} after {retries} attempts; last: {target}: {e.Message}");
                await Task.Delay(RetryDelay(retries), cancellationToken).ConfigureAwait(false);
                target = null;
                continue;
            }

            switch (reply.Status)
            {
                case ReplyStatus.Moved:
                    if (++redirects > MaxRedirects)
                        throw new AdminException($"{Describe(message)} kept moving ({redirects} redirects, last to {reply.Detail}); run the command again.");
                    target = string.IsNullOrEmpty(reply.Detail) ? null : reply.Detail;
                    continue;
                case ReplyStatus.Unavailable:
                    if (++retries > MaxRetries)
                        throw new AdminException($"The cluster could not serve {Describe(message)} after {retries} attempts: {reply.Detail}");
                    await Task.Delay(RetryDelay(retries), cancellationToken).ConfigureAwait(false);
                    target = null;
                    continue;
                default:
                    return reply;
            }
        }
    }

    /// <summary>A connection to <paramref name="address"/>, or (null, or unreachable) to the first live silo that answers.</summary>
    private async Task<(string Address, MiddlewareConnection Connection)> ConnectAsync(string? address, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        var candidates = new List<string>();
        if (address is not null) candidates.Add(address);
        candidates.AddRange(Live.Select(s => s.Address).Where(a => !string.Equals(a, address, StringComparison.OrdinalIgnoreCase)));
        foreach (var candidate in candidates)
        {
            if (_connections.TryGetValue(candidate, out var open) && open.IsConnected) return (candidate, open);
            await DropAsync(candidate).ConfigureAwait(false);
            var (host, port) = Endpoint(candidate);
            try
            {
                var connection = await MiddlewareConnection.ConnectAsync(host, port, _options, cancellationToken).ConfigureAwait(false);
                _connections[candidate] = connection;
                return (candidate, connection);
            }
            catch (HandshakeRejectedException e)
            {
                throw new AdminException($"The silo at {candidate} refused the connection: {e.Reason}. Give the admin key with --admin-key-file FILE or {CliOptions.AdminKeyFileVariable} (or, for a cluster that shares one key, --cluster-key or {CliOptions.ClusterKeyFileVariable}).");
            }
            catch (PeerAuthenticationException e)
            {
                throw new AdminException($"The silo at {candidate} is not trusted: {e.Message}");
            }
            catch (Protocol.Tls.TlsRefusedException e)
            {
                // An untrusted or misnamed certificate does not get better on the next silo or attempt.
                throw new AdminException(e.Message);
            }
            catch (Exception e) when (IsTransient(e))
            {
                failures.Add($"{candidate}: {e.Message}");
            }
        }

        throw new AdminException($"No silo could be reached ({string.Join("; ", failures)}); check that the silos are running (mw cluster status).");
    }

    /// <summary>Splits <c>host:port</c> (an IPv6 host may be bracketed); anything else is an <see cref="InspectionException"/>.</summary>
    public static (string Host, int Port) Endpoint(string address) => SiloAsking.Endpoint(address);

    private static bool IsTransient(Exception e) => e is ConnectionLostException or SocketException or TimeoutException or IOException;

    private static string Describe(InvokeMessage message) => $"{message.Method} for {message.ComponentType}/{message.Key}";

    private async Task DropAsync(string address)
    {
        if (_connections.Remove(address, out var connection)) await connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections.Values) await connection.DisposeAsync().ConfigureAwait(false);
        _connections.Clear();
    }
}
