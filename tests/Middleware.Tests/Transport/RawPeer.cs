using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Middleware.Protocol;

namespace Middleware.Tests.Transport;

/// <summary>A hand-driven socket: sends arbitrary bytes and reads frames, to play a misbehaving peer.</summary>
internal sealed class RawPeer : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;

    private RawPeer(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = PipeReader.Create(_stream);
    }

    public static async Task<RawPeer> ConnectAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        return new RawPeer(socket);
    }

    /// <summary>
    /// A Hello of <paramref name="version"/>: from version 3 on with a fresh client nonce; before it, the old layout with
    /// <paramref name="clearKey"/> in clear (what an old peer sends).
    /// </summary>
    public static byte[] Hello(ushort version = ProtocolConstants.Version, string? clearKey = null, string sender = "raw-peer", PeerRole role = PeerRole.Client) =>
        FrameWriter.ToArray(0, version >= ProtocolConstants.ChallengeVersion
            ? new HelloMessage(version, role, sender, HandshakeProof.NewNonce())
            : HelloMessage.Legacy(version, role, sender, clearKey));

    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Sends a Hello (no key) and expects HelloOk.</summary>
    public async Task HandshakeAsync()
    {
        await SendAsync(Hello());
        var (_, message) = await ReadFrameAsync() ?? throw new InvalidOperationException("the server closed instead of answering Hello");
        Assert.IsType<HelloOkMessage>(message);
    }

    /// <summary>The next frame, decoded (replies in protocol <paramref name="version"/>), or null when the server closed the connection.</summary>
    public async Task<(ulong CorrelationId, ProtocolMessage Message)?> ReadFrameAsync(ushort version = ProtocolConstants.Version)
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(timeout.Token);
            }
            catch (IOException)
            {
                // A reset after the server's close is as good as an orderly end of stream here.
                return null;
            }

            var buffer = result.Buffer;
            var status = FrameParser.TryRead(ref buffer, ProtocolConstants.MaxMaxFrameSize, out var frame, out var error);
            if (status == FrameParseStatus.Frame)
            {
                Assert.True(MessageCodec.TryDecode(frame, out var message, out error, version), error?.ToString());
                _reader.AdvanceTo(buffer.Start);
                return (frame.CorrelationId, message!);
            }

            Assert.NotEqual(FrameParseStatus.Error, status);
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) return null;
        }
    }

    /// <summary>Reads frames until the server closes; returns them.</summary>
    public async Task<List<ProtocolMessage>> ReadUntilClosedAsync()
    {
        var frames = new List<ProtocolMessage>();
        while (await ReadFrameAsync() is { } frame) frames.Add(frame.Message);
        return frames;
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync();
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
