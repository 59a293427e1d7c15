using System.Net;
using Middleware.Protocol.Tls;
using Middleware.Transport.Tls;

namespace Middleware.Silo;

/// <summary>
/// A silo's TLS, read from the files its settings name: what its protocol listener serves (<see cref="Server"/>) and
/// how it connects to other silos (<see cref="Peers"/>: the same CAs trusted, its own certificate presented when mutual
/// TLS is on). A file that cannot be used fails the start with the setting that names it.
/// </summary>
internal sealed class SiloTls
{
    private SiloTls(ServerTlsOptions server, TlsClientOptions peers)
    {
        Server = server;
        Peers = peers;
    }

    /// <summary>The protocol listener's TLS.</summary>
    public ServerTlsOptions Server { get; }

    /// <summary>TLS for connections to other silos (forwarding).</summary>
    public TlsClientOptions Peers { get; }

    /// <summary>The combinations <see cref="SiloOptions.Validate"/> refuses before any file is read.</summary>
    public static void CheckSettings(SiloOptions options)
    {
        if (options.TlsCertificate is not null) return;
        if (options.TlsKey is not null)
            throw new SiloOptionsException(SiloSettings.TlsKey, $"is set but {SiloSettings.TlsCertificate.Option} is not; give the certificate the key belongs to");
        if (options.TlsCa is not null)
            throw new SiloOptionsException(SiloSettings.TlsCa, $"is set but {SiloSettings.TlsCertificate.Option} is not; TLS needs the silo's certificate (and {SiloSettings.TlsKey.Option})");
        if (options.TlsClientCertificates != ClientCertificateRequirement.None)
            throw new SiloOptionsException(SiloSettings.TlsClientCertificates, $"asks for client certificates but {SiloSettings.TlsCertificate.Option} is not set; mutual TLS needs the silo's own certificate first");
    }

    /// <summary>Reads the files, or returns null when TLS is off. Throws <see cref="SiloOptionsException"/> naming the setting at fault.</summary>
    public static SiloTls? Load(SiloOptions options)
    {
        if (options.TlsCertificate is not { } certificateFile) return null;
        try
        {
            var identity = CertificateFiles.LoadIdentity(certificateFile, options.TlsKey, options.TlsCertificatePassword);
            var authorities = options.TlsCa is { } ca ? CertificateFiles.LoadAuthorities(ca) : [];
            var mutual = options.TlsClientCertificates != ClientCertificateRequirement.None;
            var server = new ServerTlsOptions
            {
                Certificate = identity.Certificate,
                CertificateChain = identity.Chain,
                TrustedAuthorities = authorities,
                ClientCertificates = options.TlsClientCertificates,
            };
            var peers = new TlsClientOptions
            {
                TrustedAuthorities = authorities,
                ClientCertificate = mutual ? identity.Certificate : null,
                ClientCertificateChain = mutual ? identity.Chain : [],
            };
            return new SiloTls(server, peers);
        }
        catch (CertificateFileException e)
        {
            var setting = e.FilePath == options.TlsKey ? SiloSettings.TlsKey
                : e.FilePath == options.TlsCa ? SiloSettings.TlsCa
                : SiloSettings.TlsCertificate;
            throw new SiloOptionsException(setting, $"names {e.FilePath}, which {e.Problem}");
        }
    }

    /// <summary>How the protocol port is protected, for the start-up log.</summary>
    public static string Describe(SiloOptions options, SiloTls? tls) => tls is null
        ? "plain TCP (no TLS)"
        : $"TLS with certificate '{tls.Server.Certificate.Subject}' (valid to {tls.Server.Certificate.NotAfter:u}), client certificates {options.TlsClientCertificates.ToString().ToLowerInvariant()}";

    /// <summary>
    /// The one warning line of a silo reachable from other machines with neither TLS nor a key: anyone who reaches the
    /// port may call anything, in clear. Null when the silo is on loopback only, or has TLS or a key.
    /// </summary>
    public static string? ExposureWarning(SiloOptions options) => options.OpenToNetworkWarning();
}
