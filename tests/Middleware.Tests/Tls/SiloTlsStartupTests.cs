using Middleware.Tests.Cluster;
using Middleware.Tests.Silo;

namespace Middleware.Tests.Tls;

/// <summary>A silo whose TLS settings cannot work stops at start with one line naming the setting; an exposed silo warns.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SiloTlsStartupTests : IDisposable
{
    private readonly TestCertificates _certificates = TestCertificates.Create();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task A_missing_certificate_file_stops_the_silo_with_one_line_naming_the_setting()
    {
        var missing = Path.Combine(_certificates.Directory, "missing.pem");
        var error = await StartFailingAsync("--tls-certificate", missing, "--tls-key", _certificates.SiloKeyPem);
        Assert.Contains("--tls-certificate / MIDDLEWARE_TLS_CERTIFICATE / Silo:TlsCertificate", error, StringComparison.Ordinal);
        Assert.Contains($"names {missing}, which does not exist", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_that_does_not_match_the_certificate_stops_the_silo_naming_the_key_setting()
    {
        var error = await StartFailingAsync("--tls-certificate", _certificates.SiloCertificatePem, "--tls-key", _certificates.ClientKeyPem);
        Assert.Contains("--tls-key / MIDDLEWARE_TLS_KEY", error, StringComparison.Ordinal);
        Assert.Contains("does not belong to the certificate", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mutual_TLS_without_a_certificate_and_an_unknown_mode_are_refused_at_start()
    {
        var noCertificate = await StartFailingAsync("--tls-client-certificates", "required");
        Assert.Contains("--tls-client-certificates", noCertificate, StringComparison.Ordinal);
        Assert.Contains("--tls-certificate is not set", noCertificate, StringComparison.Ordinal);
        var badMode = await StartFailingAsync("--tls-certificate", _certificates.SiloCertificatePem, "--tls-key", _certificates.SiloKeyPem, "--tls-client-certificates", "always");
        Assert.Contains("is 'always'; use required, optional or none", badMode, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silo_on_every_interface_without_TLS_or_a_key_warns_once_and_a_loopback_or_TLS_silo_does_not()
    {
        var directory = Directory.CreateTempSubdirectory("mw-tls-warn-").FullName;
        await using var exposed = await SiloProcess.StartAsync($"sqlite:{Path.Combine(directory, "a.db")}", "--address", "0.0.0.0");
        await exposed.WaitForOutputAsync("SECURITY:");
        var lines = exposed.Stdout.Split('\n').Where(l => l.Contains("SECURITY:", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(lines);
        Assert.Contains("without TLS and with no key", line, StringComparison.Ordinal);
        Assert.Contains("--tls-certificate", line, StringComparison.Ordinal);

        await using var tls = await SiloProcess.StartAsync($"sqlite:{Path.Combine(directory, "b.db")}", "--address", "0.0.0.0",
            "--tls-certificate", _certificates.SiloCertificatePem, "--tls-key", _certificates.SiloKeyPem);
        await tls.WaitForOutputAsync("protocol port TLS with certificate 'CN=silo'");
        await using var loopback = await SiloProcess.StartAsync($"sqlite:{Path.Combine(directory, "c.db")}");
        await loopback.WaitForOutputAsync("protocol port plain TCP");
        Assert.DoesNotContain("SECURITY:", tls.Stdout + loopback.Stdout, StringComparison.Ordinal);
    }

    private async Task<string> StartFailingAsync(params string[] tls)
    {
        var directory = Directory.CreateTempSubdirectory("mw-tls-bad-").FullName;
        await using var silo = SiloProcess.Launch(["--store", $"sqlite:{Path.Combine(directory, "x.db")}", "--port", "0", "--http-port", "0",
            "--components", SiloProcess.BankAssembly, "--Silo:Backends:ledger", SiloProcess.DefaultLedger, .. tls]);
        Assert.Equal(2, await silo.WaitForExitAsync());
        var error = silo.Stderr.Trim();
        Assert.DoesNotContain('\n', error);
        Assert.StartsWith("silo: ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", silo.Stdout + error, StringComparison.Ordinal);
        return error;
    }
}
