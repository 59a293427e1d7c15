namespace Middleware.Protocol;

/// <summary>
/// One silo address and its connection: connected lazily, shared by every call, and replaced by a new connection the
/// next time it is needed after it was lost or failed to connect. Clients use one per gateway, silos one per peer.
/// </summary>
public sealed class PeerConnection(string address, ConnectionOptions options) : IAsyncDisposable
{
    private readonly (string Host, int Port) _endpoint = ParseAddress(address);
    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private Task<MiddlewareConnection>? _current;

    /// <summary>The address as configured (<c>host:port</c>).</summary>
    public string Address { get; } = address;

    /// <summary>True when the last connection is up (false before the first connect).</summary>
    public bool IsHealthy
    {
        get
        {
            var current = Volatile.Read(ref _current);
            return current is { IsCompletedSuccessfully: true } && current.Result.IsConnected;
        }
    }

    /// <summary>The live connection, connecting first when there is none.</summary>
    public Task<MiddlewareConnection> GetAsync(CancellationToken cancellationToken)
    {
        Task<MiddlewareConnection> current;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            current = _current!;
            if (_current is null || _current.IsFaulted || _current.IsCanceled || (_current.IsCompletedSuccessfully && !_current.Result.IsConnected))
            {
                // One connect shared by every waiting call; it is not tied to any one caller's token, so a caller that
                // gives up does not fail the others. ConnectTimeout bounds it.
                current = _current = MiddlewareConnection.ConnectAsync(_endpoint.Host, _endpoint.Port, options, _disposed.Token);
            }
        }

        return current.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Splits <c>host:port</c> (IPv6 hosts in brackets); throws <see cref="FormatException"/> naming the address and the
    /// expected form.
    /// </summary>
    public static (string Host, int Port) ParseAddress(string? address)
    {
        var colon = address?.LastIndexOf(':') ?? -1;
        if (address is null || colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
            throw new FormatException($"'{address}' is not an address; write host:port with a port from 1 to 65535, for example 127.0.0.1:7100.");
        var host = address[..colon].Trim('[', ']');
        if (host.Length == 0) throw new FormatException($"'{address}' has no host; write host:port.");
        return (host, port);
    }

    /// <summary>Closes the connection; calls waiting on it fail with <see cref="ConnectionLostException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Task<MiddlewareConnection>? current;
        lock (_gate)
        {
            if (_disposed.IsCancellationRequested) return;
            _disposed.Cancel();
            current = _current;
        }

        _disposed.Dispose();
        if (current is null) return;
        // A connect that failed or was canceled by this dispose left nothing open to close.
        var connection = await current.ContinueWith(static t => t.IsCompletedSuccessfully ? t.Result : null, TaskScheduler.Default).ConfigureAwait(false);
        if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
    }
}
