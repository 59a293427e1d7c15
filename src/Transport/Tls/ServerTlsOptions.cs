using System.Security.Cryptography.X509Certificates;

namespace Middleware.Transport.Tls;

/// <summary>Whether a TLS listener asks connecting peers for a certificate (mutual TLS).</summary>
public enum ClientCertificateRequirement
{
    /// <summary>No client certificate is asked for; peers are authenticated by the handshake's key, if any.</summary>
    None,

    /// <summary>A client certificate is asked for; a peer may connect without one, but one it presents must be trusted.</summary>
    Optional,

    /// <summary>Every peer must present a trusted client certificate; others are refused after the TLS handshake with the reason.</summary>
    Required,
}

/// <summary>TLS on a protocol listener: the server's certificate and, for mutual TLS, which client certificates it trusts.</summary>
public sealed class ServerTlsOptions
{
    /// <summary>The server's certificate, with its private key.</summary>
    public required X509Certificate2 Certificate { get; init; }

    /// <summary>Certificates between <see cref="Certificate"/> and its root, sent along in the handshake.</summary>
    public X509Certificate2Collection CertificateChain { get; init; } = [];

    /// <summary>The CAs trusted to sign client certificates; empty: the operating system's trust store.</summary>
    public X509Certificate2Collection TrustedAuthorities { get; init; } = [];

    /// <summary>Whether peers are asked for a certificate, and whether one is required. Default <see cref="ClientCertificateRequirement.None"/>.</summary>
    public ClientCertificateRequirement ClientCertificates { get; init; } = ClientCertificateRequirement.None;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Certificate, "ServerTlsOptions.Certificate");
        if (!Certificate.HasPrivateKey)
            throw new ArgumentException($"ServerTlsOptions.Certificate ({Certificate.Subject}) has no private key; load it with its key.", nameof(Certificate));
        if (!Enum.IsDefined(ClientCertificates))
            throw new ArgumentException($"ServerTlsOptions.ClientCertificates is {(int)ClientCertificates}; use None, Optional or Required.", nameof(ClientCertificates));
    }
}
