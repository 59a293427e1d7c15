using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Middleware.Protocol.Tls;

/// <summary>
/// The stream a connection to a silo speaks over: the socket itself, or TLS on it when <see cref="ConnectionOptions.Tls"/>
/// is set. Handshake failures become errors that say what to change: <see cref="TlsRefusedException"/> when retrying
/// cannot help (an untrusted or misnamed certificate), <see cref="ConnectionLostException"/> when the silo hung up (most
/// often a silo without TLS on that port).
/// </summary>
internal static class TlsClientStream
{
    public static async Task<Stream> OpenAsync(Socket socket, EndPoint endpoint, ConnectionOptions options, CancellationToken cancellationToken)
    {
        var network = new NetworkStream(socket, ownsSocket: false);
        if (options.Tls is not { } tls) return network;

        var host = tls.TargetHost ?? endpoint switch
        {
            DnsEndPoint dns => dns.Host,
            IPEndPoint ip => ip.Address.ToString(),
            _ => endpoint.ToString() ?? "",
        };
        string? distrust = null;
        var ssl = new SslStream(network, leaveInnerStreamOpen: false);
        var authentication = new SslClientAuthenticationOptions
        {
            TargetHost = host,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ClientCertificateContext = tls.ClientCertificate is { } mine
                ? SslStreamCertificateContext.Create(mine, tls.ClientCertificateChain, offline: true)
                : null,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                (distrust = Distrust(certificate as X509Certificate2, chain, errors, tls, host)) is null,
        };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.HandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsClientAsync(authentication, timeout.Token).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            Exception? explained = e switch
            {
                AuthenticationException when distrust is not null => new TlsRefusedException(
                    $"The silo at {endpoint} presented a certificate this side does not trust: {distrust}. Trust the CA that signed it (TlsClientOptions.TrustedAuthorities, mw --tls-ca), or connect under a name the certificate carries (TlsClientOptions.TargetHost).", e),
                OperationCanceledException when !cancellationToken.IsCancellationRequested => new TimeoutException(
                    $"The TLS handshake with {endpoint} took longer than ConnectionOptions.HandshakeTimeout ({options.HandshakeTimeout}); is this a silo's protocol port?", e),
                AuthenticationException => new TlsRefusedException(
                    $"The TLS handshake with {endpoint} failed ({e.Message}). Check that the silo serves TLS on this port (started with --tls-certificate); without it, connect without TLS.", e),
                IOException or SocketException => new ConnectionLostException(
                    $"{endpoint} closed the connection during the TLS handshake ({e.Message}). A silo without TLS does that (it logs 'started a TLS handshake'): start it with --tls-certificate, or connect without TLS.", e),
                _ => null,
            };
            if (explained is null) throw;
            throw explained;
        }
    }

    private static string? Distrust(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors, TlsClientOptions tls, string host)
    {
        if (certificate is null) return "it sent no certificate";
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return $"certificate '{certificate.Subject}' is issued for {CertificateTrust.Names(certificate)}, not for '{host}'";
        return CertificateTrust.Problem(certificate, chain, tls.TrustedAuthorities, CertificateTrust.ServerAuthentication);
    }
}
