using System.Security.Cryptography.X509Certificates;

namespace Middleware.Protocol.Tls;

/// <summary>
/// TLS for a connection to a silo (<see cref="ConnectionOptions.Tls"/>): which silo certificates to trust, the name the
/// silo's certificate must carry, and this side's certificate for silos that require mutual TLS. Build it from files
/// with <see cref="FromFiles"/>.
/// </summary>
public sealed class TlsClientOptions
{
    /// <summary>
    /// The name the silo's certificate must carry (a DNS name or an IP address in its subject alternative names). Null
    /// (the default): the host of the address connected to, so every gateway is checked under its own address.
    /// </summary>
    public string? TargetHost { get; init; }

    /// <summary>
    /// The certificate authorities trusted to sign silo certificates; empty (the default) trusts the operating system's
    /// store. When given, only these roots are trusted.
    /// </summary>
    public X509Certificate2Collection TrustedAuthorities { get; init; } = [];

    /// <summary>This side's certificate, with its private key, presented to silos that ask for one (mutual TLS); null: none.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>Certificates between <see cref="ClientCertificate"/> and its root, sent along with it; empty when it is signed by the root itself.</summary>
    public X509Certificate2Collection ClientCertificateChain { get; init; } = [];

    /// <summary>
    /// Options from files: <paramref name="authoritiesFile"/> a PEM bundle of trusted CAs (null: the system's store);
    /// <paramref name="certificateFile"/> this side's certificate (PEM or PFX) with its key in <paramref name="keyFile"/>
    /// (PEM; null when the certificate file holds the key). Throws <see cref="CertificateFileException"/> naming the file
    /// and the problem.
    /// </summary>
    public static TlsClientOptions FromFiles(string? authoritiesFile = null, string? certificateFile = null, string? keyFile = null, string? targetHost = null)
    {
        if (certificateFile is null && keyFile is not null)
            throw new CertificateFileException(keyFile, "is a key without a certificate; give the certificate file too");
        var identity = certificateFile is null ? null : CertificateFiles.LoadIdentity(certificateFile, keyFile);
        return new TlsClientOptions
        {
            TargetHost = targetHost,
            TrustedAuthorities = authoritiesFile is null ? [] : CertificateFiles.LoadAuthorities(authoritiesFile),
            ClientCertificate = identity?.Certificate,
            ClientCertificateChain = identity?.Chain ?? [],
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (TargetHost is { } host && string.IsNullOrWhiteSpace(host))
            throw new ArgumentException("TlsClientOptions.TargetHost is empty; give the name in the silo's certificate, or leave it null to use each silo's address.", nameof(TargetHost));
        ArgumentNullException.ThrowIfNull(TrustedAuthorities, "TlsClientOptions.TrustedAuthorities");
        ArgumentNullException.ThrowIfNull(ClientCertificateChain, "TlsClientOptions.ClientCertificateChain");
        if (ClientCertificate is { HasPrivateKey: false })
            throw new ArgumentException($"TlsClientOptions.ClientCertificate ({ClientCertificate.Subject}) has no private key; load it with its key (TlsClientOptions.FromFiles(certificateFile: ..., keyFile: ...)).", nameof(ClientCertificate));
    }
}
