using System.Net;
using System.Net.Sockets;

namespace Middleware.Tests.Transport;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a server that records every byte each side sends, so a test can look at what
/// crossed the wire (a key must never be among the bytes a client sends).
/// </summary>
internal sealed class RecordingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly MemoryStream _fromClients = new();
    private readonly MemoryStream _fromServer = new();
    private readonly Task _accepting;

    private RecordingProxy(IPEndPoint target)
    {
        _target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public string Address => $"127.0.0.1:{EndPoint.Port}";

    /// <summary>Every byte clients sent through the proxy so far.</summary>
    public byte[] ClientBytes
    {
        get { lock (_fromClients) return _fromClients.ToArray(); }
    }

    /// <summary>Every byte the server sent back so far.</summary>
    public byte[] ServerBytes
    {
        get { lock (_fromServer) return _fromServer.ToArray(); }
    }

    public static RecordingProxy Start(IPEndPoint target) => new(target);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var server = new TcpClient { NoDelay = true };
            await server.ConnectAsync(_target);
            client.NoDelay = true;
            lock (_pumps)
            {
                _pumps.Add(PumpAsync(client, server, _fromClients));
                _pumps.Add(PumpAsync(server, client, _fromServer));
            }
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, MemoryStream record)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var input = from.GetStream();
            var output = to.GetStream();
            while (true)
            {
                var n = await input.ReadAsync(buffer, _stop.Token);
                if (n == 0) break;
                lock (record) record.Write(buffer, 0, n);
                await output.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Either side went away: the relay of this connection ends.
        }
        finally
        {
            from.Close();
            to.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] pumps;
        lock (_pumps) pumps = [.. _pumps];
        await Task.WhenAll(pumps);
        _stop.Dispose();
    }
}
