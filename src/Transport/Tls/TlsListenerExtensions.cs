using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Middleware.Transport.Tls;

/// <summary>TLS on a protocol listener, with Kestrel's own TLS connection middleware.</summary>
public static class TlsListenerExtensions
{
    /// <summary>
    /// Puts TLS in front of the protocol on <paramref name="listen"/> (call before <c>UseMiddlewareProtocol</c>): Kestrel's
    /// <c>UseHttps</c> with <paramref name="tls"/>'s certificate, between a check that refuses plain peers with a reason and
    /// one that judges client certificates. With <paramref name="tls"/> null the listener stays plain and only watches
    /// for TLS peers, which it closes, logging the fix.
    /// </summary>
    public static ListenOptions UseMiddlewareTls(this ListenOptions listen, ServerTlsOptions? tls, TransportOptions options)
    {
        options.Validate();
        tls?.Validate();
        TlsGate? gate = null;
        // Resolved when Kestrel builds the pipeline, after the container is complete.
        TlsGate Gate() => gate ??= new TlsGate(tls, options,
            listen.ApplicationServices.GetService<TransportMetrics>() ?? new TransportMetrics(),
            listen.ApplicationServices.GetService<ILoggerFactory>()?.CreateLogger<MiddlewareConnectionHandler>() ?? NullLogger<MiddlewareConnectionHandler>.Instance,
            listen.ApplicationServices.GetService<TimeProvider>() ?? TimeProvider.System);

        if (tls is null)
        {
            listen.Use(next => connection => Gate().PlainAsync(connection, next));
            return listen;
        }

        listen.Use(next => connection => Gate().BeforeTlsAsync(connection, next));
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = tls.Certificate,
            ServerCertificateChain = tls.CertificateChain,
            ClientCertificateMode = tls.ClientCertificates == ClientCertificateRequirement.None ? ClientCertificateMode.NoCertificate : ClientCertificateMode.AllowCertificate,
            // Every certificate passes the TLS layer; TlsGate.AfterTlsAsync judges it where it can tell the peer why.
            ClientCertificateValidation = (_, _, _) => true,
            CheckCertificateRevocation = false,
            HandshakeTimeout = options.HandshakeTimeout,
        });
        listen.Use(next => connection => Gate().AfterTlsAsync(connection, next));
        return listen;
    }
}
