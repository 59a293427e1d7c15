using System.IO.Pipelines;
using System.Net;

namespace Middleware.Protocol;

/// <summary>
/// The connecting side of the handshake (protocol version 3): Hello with a client nonce and no key; when the server
/// challenges, the proof; then HelloOk, whose server proof is checked whenever this side holds a key, so a server that
/// does not know the key (an impostor, or a silo configured without it) is refused here, before any request is sent.
/// </summary>
public sealed partial class MiddlewareConnection
{
    private static async Task<HelloOkMessage> HandshakeAsync(EndPoint endpoint, PipeReader input, PipeWriter output, ConnectionOptions options, CancellationToken cancellationToken)
    {
        var clientNonce = HandshakeProof.NewNonce();
        var key = options.Key is null ? null : HandshakeProof.KeyBytes(options.Key);
        var role = ServerHandshake.RoleName(options.Role);
        byte[]? serverNonce = null;
        FrameWriter.Write(output, 0, new HelloMessage(ProtocolConstants.Version, options.Role, options.SenderId, clientNonce));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.HandshakeTimeout);
        try
        {
            await output.FlushAsync(timeout.Token).ConfigureAwait(false);
            while (true)
            {
                var message = await ReadHandshakeFrameAsync(endpoint, input, options, timeout.Token).ConfigureAwait(false);
                switch (message)
                {
                    case HelloRejectedMessage rejected:
                        throw new HandshakeRejectedException(rejected.Reason);
                    case HelloChallengeMessage challenge when serverNonce is null:
                        if (key is null)
                        {
                            throw new HandshakeRejectedException(
                                $"the silo requires {(options.Role == PeerRole.Admin ? "an" : "a")} {role} key and this side has none; configure the {role} key (MiddlewareClientOptions.ClientKeyFile for a client, mw --admin-key-file for the admin tool, ConnectionOptions.Key)");
                        }

                        serverNonce = challenge.ServerNonce.ToArray();
                        var proof = HandshakeProof.Client(key, ProtocolConstants.Version, options.Role, options.SenderId, clientNonce, serverNonce);
                        FrameWriter.Write(output, 0, new HelloProofMessage(proof));
                        await output.FlushAsync(timeout.Token).ConfigureAwait(false);
                        continue;
                    case HelloOkMessage ok when ok.ProtocolVersion is < ProtocolConstants.MinVersion or > ProtocolConstants.Version:
                        throw new HandshakeRejectedException(
                            $"the server answered with protocol version {ok.ProtocolVersion}, but this client speaks protocol versions {ProtocolConstants.MinVersion} to {ProtocolConstants.Version}");
                    case HelloOkMessage ok:
                        CheckServerProof(endpoint, ok, key, role, options, clientNonce, serverNonce);
                        return ok;
                    default:
                        throw new ProtocolViolationException(new ProtocolError(ProtocolErrorKind.UnexpectedMessage,
                            $"expected {(serverNonce is null ? "HelloOk, HelloChallenge" : "HelloOk")} or HelloRejected, got {message.Type}"));
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{endpoint} did not answer the Hello within ConnectionOptions.HandshakeTimeout ({options.HandshakeTimeout}).");
        }
    }

    /// <summary>
    /// With a key, the server must have challenged and proven the same key over this handshake's transcript: mutual
    /// authentication. Without one, there is nothing to check.
    /// </summary>
    private static void CheckServerProof(EndPoint endpoint, HelloOkMessage ok, byte[]? key, string role, ConnectionOptions options, byte[] clientNonce, byte[]? serverNonce)
    {
        if (key is null) return;
        if (serverNonce is null)
        {
            throw new PeerAuthenticationException(
                $"{endpoint} ({LogText.Quote(ok.SiloId)}) accepted this {role} without asking for its key, so it did not prove that it knows the key: it is not a silo of this cluster, or it runs without a {role} key. Check the address, or configure the same {role} key on the silos.");
        }

        var expected = HandshakeProof.Server(key, ok.ProtocolVersion, options.Role, options.SenderId, clientNonce, serverNonce, ok.SiloId);
        if (!HandshakeProof.Matches(expected, ok.ServerProof.Span))
        {
            throw new PeerAuthenticationException(
                $"{endpoint} ({LogText.Quote(ok.SiloId)}) did not prove that it knows the {role} key (its proof does not match): it is not a silo of this cluster, or its {role} key differs from this side's.");
        }
    }

    private static async Task<ProtocolMessage> ReadHandshakeFrameAsync(EndPoint endpoint, PipeReader input, ConnectionOptions options, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = FrameParser.TryRead(ref buffer, options.MaxFrameSize, out var frame, out var error);
            if (status == FrameParseStatus.NeedMoreData)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                    throw new ConnectionLostException($"{endpoint} closed the connection during the handshake.");
                continue;
            }

            if (status == FrameParseStatus.Error) throw new ProtocolViolationException(error!);
            var decoded = MessageCodec.TryDecode(frame, out var message, out error);
            // Consumed up to the frame only: bytes after it belong to the next read (the reader loop after HelloOk).
            input.AdvanceTo(buffer.Start);
            if (!decoded) throw new ProtocolViolationException(error!);
            return message!;
        }
    }
}
