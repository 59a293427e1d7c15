using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Middleware.Protocol;
using Middleware.Protocol.Tls;
using Middleware.Silo;
using Middleware.Transport.Tls;
using Microsoft.Extensions.Configuration;

namespace Middleware.Tests.Tls;

/// <summary>Loading certificates, keys and CA bundles, and reading the TLS settings, each failure naming the file and the fix.</summary>
public sealed class CertificateFilesTests : IDisposable
{
    private readonly TestCertificates _certificates = TestCertificates.Create();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public void A_PEM_certificate_and_key_load_and_one_file_holding_both_loads_too()
    {
        var identity = CertificateFiles.LoadIdentity(_certificates.SiloCertificatePem, _certificates.SiloKeyPem);
        Assert.True(identity.Certificate.HasPrivateKey);
        Assert.Equal("CN=silo", identity.Certificate.Subject);
        var combined = Path.Combine(_certificates.Directory, "combined.pem");
        File.WriteAllText(combined, File.ReadAllText(_certificates.SiloCertificatePem) + "\n" + File.ReadAllText(_certificates.SiloKeyPem));
        Assert.True(CertificateFiles.LoadIdentity(combined).Certificate.HasPrivateKey);
    }

    [Fact]
    public void A_PFX_with_its_password_loads_and_a_wrong_password_is_named()
    {
        var pfx = Path.Combine(_certificates.Directory, "silo.pfx");
        using (var pem = CertificateFiles.LoadIdentity(_certificates.SiloCertificatePem, _certificates.SiloKeyPem).Certificate)
            File.WriteAllBytes(pfx, pem.Export(X509ContentType.Pkcs12, "pw"));
        Assert.True(CertificateFiles.LoadIdentity(pfx, password: "pw").Certificate.HasPrivateKey);
        var wrong = Assert.Throws<CertificateFileException>(() => CertificateFiles.LoadIdentity(pfx, password: "nope"));
        Assert.Contains("password", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_files_foreign_keys_and_keys_without_certificates_are_named_with_the_fix()
    {
        var missing = Assert.Throws<CertificateFileException>(() => CertificateFiles.LoadIdentity(Path.Combine(_certificates.Directory, "none.pem"), _certificates.SiloKeyPem));
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        var foreign = Assert.Throws<CertificateFileException>(() => CertificateFiles.LoadIdentity(_certificates.SiloCertificatePem, _certificates.ClientKeyPem));
        Assert.Equal(_certificates.ClientKeyPem, foreign.FilePath);
        Assert.Contains("does not belong to the certificate", foreign.Message, StringComparison.Ordinal);

        var noKey = Assert.Throws<CertificateFileException>(() => CertificateFiles.LoadIdentity(_certificates.SiloCertificatePem));
        Assert.Contains("no private key", noKey.Message, StringComparison.Ordinal);

        var keyAsCertificate = Assert.Throws<CertificateFileException>(() => CertificateFiles.LoadIdentity(_certificates.SiloKeyPem, _certificates.SiloKeyPem));
        Assert.Contains("holds no certificate", keyAsCertificate.Message, StringComparison.Ordinal);

        var notABundle = Assert.Throws<CertificateFileException>(() => CertificateFiles.LoadAuthorities(_certificates.SiloKeyPem));
        Assert.Contains("holds no certificate", notABundle.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Silo_TLS_settings_come_from_command_line_and_environment_and_bad_combinations_name_the_setting()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(SiloSettings.FromEnvironment(new System.Collections.Hashtable { ["MIDDLEWARE_TLS_CA"] = "/etc/mw/ca.pem" }))
            .AddCommandLine(["--tls-certificate", "c.pem", "--tls-key", "k.pem", "--tls-client-certificates", "Optional"], SiloSettings.SwitchMappings())
            .Build();
        var options = SiloSettings.Read(configuration);
        Assert.Equal("c.pem", options.TlsCertificate);
        Assert.Equal("k.pem", options.TlsKey);
        Assert.Equal("/etc/mw/ca.pem", options.TlsCa);
        Assert.Equal(ClientCertificateRequirement.Optional, options.TlsClientCertificates);

        var keyOnly = new SiloOptions { Components = ["x.dll"], TlsKey = "k.pem" };
        Assert.Contains("--tls-key / MIDDLEWARE_TLS_KEY / Silo:TlsKey is set but --tls-certificate is not", Assert.Throws<SiloOptionsException>(keyOnly.Validate).Message, StringComparison.Ordinal);
        var caOnly = new SiloOptions { Components = ["x.dll"], TlsCa = "ca.pem" };
        Assert.Contains("--tls-ca", Assert.Throws<SiloOptionsException>(caOnly.Validate).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_ClientHello_is_told_apart_from_every_Hello_frame_even_one_whose_length_byte_is_0x16()
    {
        var clientHello = new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 };
        Assert.True(TlsSniffer.LooksLikeClientHello(new ReadOnlySequence<byte>(clientHello)));
        for (var length = 1; length < 1100; length++)
        {
            var hello = new HelloMessage(ProtocolConstants.Version, PeerRole.Client, new string('c', length), null);
            var pipe = new Pipe();
            FrameWriter.Write(pipe.Writer, 0, hello);
            await pipe.Writer.FlushAsync();
            Assert.True(pipe.Reader.TryRead(out var frame));
            Assert.False(TlsSniffer.LooksLikeClientHello(frame.Buffer), $"a Hello with a {length}-character sender id looks like TLS");
        }
    }
}
