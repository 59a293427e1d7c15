using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Middleware.Protocol;
using Middleware.Protocol.Tls;

namespace Middleware.Transport.Tls;

/// <summary>
/// The checks around TLS on one protocol listener, each refusing with a reason that names the fix: a plain peer on a TLS
/// listener and a peer without (or with an untrusted) client certificate get a HelloRejected saying so; a TLS peer on a
/// plain listener cannot read one, so it is closed and the silo logs why. Refusals are logged at Warning at most once per
/// <see cref="LogInterval"/> per kind, with the count of those not logged.
/// </summary>
internal sealed class TlsGate(ServerTlsOptions? tls, TransportOptions options, TransportMetrics metrics, ILogger logger, TimeProvider time)
{
    /// <summary>The shortest time between two log lines of one kind of refusal.</summary>
    public static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private readonly LogThrottle _tlsOnPlain = new(time);
    private readonly LogThrottle _plainOnTls = new(time);
    private readonly LogThrottle _certificate = new(time);

    /// <summary>On a listener without TLS: watches the first bytes for a ClientHello.</summary>
    public Task PlainAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var transport = connection.Transport;
        // The handshake then sees a peer that left, and counts the refusal.
        var input = new SniffingPipeReader(transport.Input, () =>
        {
            if (_tlsOnPlain.ShouldLog(out var more))
            {
                logger.LogWarning("Connection {ConnectionId} from {Remote} refused: it started a TLS handshake, but this silo's protocol port has no TLS; start the silo with --tls-certificate and --tls-key (MIDDLEWARE_TLS_CERTIFICATE, MIDDLEWARE_TLS_KEY), or connect without TLS{More}",
                    connection.ConnectionId, connection.RemoteEndPoint, More(more));
            }
        });
        connection.Transport = new DuplexPipe(input, transport.Output);
        return next(connection);
    }

    /// <summary>On a TLS listener, before TLS: passes a ClientHello on to the TLS handshake and refuses anything else.</summary>
    public async Task BeforeTlsAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var input = connection.Transport.Input;
        using var timeout = new CancellationTokenSource(options.HandshakeTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                // Nothing sent within the handshake timeout: the same end as a plain listener gives a silent peer.
                metrics.HandshakeRejected();
                return;
            }
            catch (Exception e) when (IsPeerGone(e))
            {
                return;
            }

            var buffer = result.Buffer;
            if (buffer.Length < TlsSniffer.Length && !result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            if (TlsSniffer.LooksLikeClientHello(buffer))
            {
                // Nothing consumed: the TLS handshake reads the ClientHello from the start.
                input.AdvanceTo(buffer.Start);
                await next(connection).ConfigureAwait(false);
                return;
            }

            // The Hello is consumed so closing does not reset the connection before the peer reads the refusal.
            input.AdvanceTo(buffer.End);
            if (buffer.IsEmpty) return;
            if (_plainOnTls.ShouldLog(out var more))
            {
                logger.LogWarning("Connection {ConnectionId} from {Remote} refused: it spoke without TLS to this silo's TLS port; enable TLS in the client (MiddlewareClientOptions.Tls, ConnectionOptions.Tls, mw --tls){More}",
                    connection.ConnectionId, connection.RemoteEndPoint, More(more));
            }

            try
            {
                await RefuseAsync(connection, "this silo requires TLS on its protocol port; connect with TLS (MiddlewareClientOptions.Tls / ConnectionOptions.Tls, mw --tls) and trust the silo's CA").ConfigureAwait(false);
            }
            catch (Exception e) when (IsPeerGone(e))
            {
                logger.LogDebug("Connection {ConnectionId} ended before its refusal was sent: {Reason}", connection.ConnectionId, e.Message);
            }

            return;
        }
    }

    /// <summary>On a TLS listener, after the TLS handshake: judges the client certificate (mutual TLS).</summary>
    public async Task AfterTlsAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var refusal = tls!.ClientCertificates == ClientCertificateRequirement.None ? null : CertificateRefusal(connection);
        if (refusal is null)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        if (_certificate.ShouldLog(out var more))
            logger.LogWarning("Connection {ConnectionId} from {Remote} refused: {Reason}{More}", connection.ConnectionId, connection.RemoteEndPoint, refusal, More(more));
        try
        {
            await DrainHelloAsync(connection).ConfigureAwait(false);
            await RefuseAsync(connection, refusal).ConfigureAwait(false);
        }
        catch (Exception e) when (IsPeerGone(e))
        {
            // The peer left first (a client that did not trust this silo's certificate closes right after the handshake).
            logger.LogDebug("Connection {ConnectionId} ended before its refusal was sent: {Reason}", connection.ConnectionId, e.Message);
        }
    }

    private static bool IsPeerGone(Exception e) => e is ConnectionResetException or IOException or OperationCanceledException or ObjectDisposedException;

    private string? CertificateRefusal(ConnectionContext connection)
    {
        var certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
        if (certificate is null)
        {
            return tls!.ClientCertificates == ClientCertificateRequirement.Required
                ? "this silo requires a client certificate (mutual TLS) and none was presented; give the client one signed by the silo's CA (TlsClientOptions.ClientCertificate, mw --tls-certificate and --tls-key; a silo presents its own --tls-certificate)"
                : null;
        }

        // Accepted by the TLS layer on purpose (its callback has no connection to explain a refusal on); judged here.
        return CertificateTrust.Problem(certificate, null, tls!.TrustedAuthorities, CertificateTrust.ClientAuthentication) is { } problem
            ? $"this silo does not trust the client certificate: {problem}; sign it with a CA the silo trusts (--tls-ca)"
            : null;
    }

    /// <summary>Reads what the peer sent after the TLS handshake (its Hello), so the refusal is not lost to a reset.</summary>
    private async Task DrainHelloAsync(ConnectionContext connection)
    {
        using var timeout = new CancellationTokenSource(options.HandshakeTimeout);
        try
        {
            var result = await connection.Transport.Input.ReadAsync(timeout.Token).ConfigureAwait(false);
            connection.Transport.Input.AdvanceTo(result.Buffer.End);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            // Nothing arrived; refuse anyway.
        }
    }

    private async Task RefuseAsync(ConnectionContext connection, string reason)
    {
        metrics.HandshakeRejected();
        FrameWriter.Write(connection.Transport.Output, 0, new HelloRejectedMessage(reason));
        using var timeout = new CancellationTokenSource(options.CloseTimeout);
        await connection.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
    }

    private static string More(long more) => more > 0 ? $" ({more} more since the last such line)" : "";

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>At most one line per <see cref="LogInterval"/>, counting the ones held back.</summary>
    private sealed class LogThrottle(TimeProvider time)
    {
        private long _nextAt = long.MinValue;
        private long _held;

        public bool ShouldLog(out long held)
        {
            var now = time.GetTimestamp();
            var next = Interlocked.Read(ref _nextAt);
            if (now >= next && Interlocked.CompareExchange(ref _nextAt, now + (long)(LogInterval.TotalSeconds * time.TimestampFrequency), next) == next)
            {
                held = Interlocked.Exchange(ref _held, 0);
                return true;
            }

            Interlocked.Increment(ref _held);
            held = 0;
            return false;
        }
    }
}
