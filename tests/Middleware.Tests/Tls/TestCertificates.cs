using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Middleware.Tests.Tls;

/// <summary>
/// A throw-away PKI made with <see cref="CertificateRequest"/> and written as PEM files to a temp directory: a CA, a silo
/// certificate for localhost/127.0.0.1 (server and client usage, since silos present it to each other under mutual TLS),
/// a client certificate, and a second CA with its own silo and client certificates that the first does not trust.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaPem => Path.Combine(Directory, "ca.pem");

    public string SiloCertificatePem => Path.Combine(Directory, "silo.pem");

    public string SiloKeyPem => Path.Combine(Directory, "silo.key");

    public string ClientCertificatePem => Path.Combine(Directory, "client.pem");

    public string ClientKeyPem => Path.Combine(Directory, "client.key");

    /// <summary>A CA nobody here trusts, and a silo and a client certificate it signed.</summary>
    public string OtherCaPem => Path.Combine(Directory, "other-ca.pem");

    public string OtherSiloCertificatePem => Path.Combine(Directory, "other-silo.pem");

    public string OtherSiloKeyPem => Path.Combine(Directory, "other-silo.key");

    public string OtherClientCertificatePem => Path.Combine(Directory, "other-client.pem");

    public string OtherClientKeyPem => Path.Combine(Directory, "other-client.key");

    public static TestCertificates Create()
    {
        var certificates = new TestCertificates(System.IO.Directory.CreateTempSubdirectory("mw-tls-").FullName);
        var now = DateTimeOffset.UtcNow;
        using var ca = CreateCa("CN=Middleware Test CA", now);
        using var other = CreateCa("CN=Some Other CA", now);
        File.WriteAllText(certificates.CaPem, ca.Certificate.ExportCertificatePem());
        File.WriteAllText(certificates.OtherCaPem, other.Certificate.ExportCertificatePem());
        Issue(ca, "CN=silo", now, server: true, certificates.SiloCertificatePem, certificates.SiloKeyPem);
        Issue(ca, "CN=client", now, server: false, certificates.ClientCertificatePem, certificates.ClientKeyPem);
        Issue(other, "CN=impostor silo", now, server: true, certificates.OtherSiloCertificatePem, certificates.OtherSiloKeyPem);
        Issue(other, "CN=impostor client", now, server: false, certificates.OtherClientCertificatePem, certificates.OtherClientKeyPem);
        return certificates;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Left in the temp directory: harmless.
        }
    }

    private sealed record Authority(X509Certificate2 Certificate, ECDsa Key) : IDisposable
    {
        public void Dispose()
        {
            Certificate.Dispose();
            Key.Dispose();
        }
    }

    private static Authority CreateCa(string subject, DateTimeOffset now)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return new Authority(request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30)), key);
    }

    private static void Issue(Authority issuer, string subject, DateTimeOffset now, bool server, string certificatePath, string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var usages = new OidCollection { new Oid("1.3.6.1.5.5.7.3.2") };
        if (server)
        {
            usages.Add(new Oid("1.3.6.1.5.5.7.3.1"));
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var certificate = request.Create(issuer.Certificate, now.AddDays(-1), now.AddDays(29), serial);
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
    }
}
