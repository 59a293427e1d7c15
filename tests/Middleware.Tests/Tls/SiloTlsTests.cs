using System.Text;
using Bank;
using Middleware.Client;
using Middleware.Protocol;
using Middleware.Protocol.Tls;
using Middleware.Recovery.Stores;
using Middleware.Tests.Admin;
using Middleware.Tests.Cluster;
using Middleware.Tests.Silo;

namespace Middleware.Tests.Tls;

/// <summary>
/// TLS on real silo processes: a TLS silo, a silo that requires client certificates (mutual TLS) and a plain one,
/// with test certificates made in the test. Each refusal must name its fix.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SiloTlsTests(SiloTlsTests.Silos silos) : IClassFixture<SiloTlsTests.Silos>
{
    [Fact]
    public async Task A_TLS_client_gets_replies_and_the_wire_carries_no_plaintext()
    {
        var key = $"secret-{Guid.NewGuid():N}";
        await using (var tap = new WireRecorder(silos.Tls.Protocol))
        {
            await using var client = await ConnectAsync(tap.Address, TlsClientOptions.FromFiles(silos.Certificates.CaPem));
            Assert.Equal(4242, await client.GetComponent<IAccount>(key).Deposit(4242));
            Assert.Equal(4242, await client.GetComponent<IAccount>(key).Balance());
            var wire = tap.Captured;
            Assert.True(wire.Length > 1000, $"the tap saw {wire.Length} bytes");
            Assert.False(Contains(wire, key), "the component key crossed the wire in clear");
            Assert.False(Contains(wire, "Deposit"), "the method name crossed the wire in clear");
            Assert.False(Contains(wire, "client:"), "the client's name crossed the wire in clear");
        }

        // The same exchange with a plain silo shows the key on the wire: the check above can see plaintext.
        await using (var tap = new WireRecorder(silos.Plain.Protocol))
        {
            await using var client = await ConnectAsync(tap.Address, tls: null);
            Assert.Equal(7, await client.GetComponent<IAccount>(key).Deposit(7));
            Assert.True(Contains(tap.Captured, key), "the plain control run did not show the key on the wire");
        }
    }

    [Fact]
    public async Task A_plain_client_is_refused_by_a_TLS_silo_with_the_fix_and_the_silo_logs_it()
    {
        var refused = await Assert.ThrowsAsync<ClientConnectException>(() => ConnectAsync(silos.Tls.Address, tls: null));
        Assert.Contains("requires TLS", refused.Message, StringComparison.Ordinal);
        Assert.Contains("MiddlewareClientOptions.Tls", refused.Message, StringComparison.Ordinal);

        var raw = await Assert.ThrowsAsync<HandshakeRejectedException>(() => MiddlewareConnection.ConnectAsync(silos.Tls.Protocol, new ConnectionOptions { SenderId = "plain" }));
        Assert.Contains("requires TLS", raw.Reason, StringComparison.Ordinal);
        await silos.Tls.WaitForOutputAsync("spoke without TLS to this silo's TLS port");
    }

    [Fact]
    public async Task A_TLS_client_against_a_plain_silo_is_told_the_silo_has_no_TLS_and_the_silo_logs_the_fix()
    {
        var failed = await Assert.ThrowsAsync<ClientConnectException>(() => ConnectAsync(silos.Plain.Address, TlsClientOptions.FromFiles(silos.Certificates.CaPem)));
        Assert.Contains("during the TLS handshake", failed.Message, StringComparison.Ordinal);
        Assert.Contains("--tls-certificate", failed.Message, StringComparison.Ordinal);
        await silos.Plain.WaitForOutputAsync("started a TLS handshake, but this silo's protocol port has no TLS; start the silo with --tls-certificate");
    }

    [Fact]
    public async Task A_client_refuses_a_silo_certificate_it_does_not_trust_or_that_names_another_host()
    {
        var untrusted = await Assert.ThrowsAsync<ClientConnectException>(() => ConnectAsync(silos.Tls.Address, TlsClientOptions.FromFiles(silos.Certificates.OtherCaPem)));
        Assert.IsType<TlsRefusedException>(untrusted.InnerException);
        Assert.Contains("does not trust", untrusted.Message, StringComparison.Ordinal);
        Assert.Contains("not signed by a trusted CA", untrusted.Message, StringComparison.Ordinal);
        Assert.Contains("TrustedAuthorities", untrusted.Message, StringComparison.Ordinal);

        // Trusting the machine's store instead (no CA given) refuses the test CA too.
        var system = await Assert.ThrowsAsync<ClientConnectException>(() => ConnectAsync(silos.Tls.Address, new TlsClientOptions()));
        Assert.Contains("trust store", system.Message, StringComparison.Ordinal);

        var misnamed = await Assert.ThrowsAsync<ClientConnectException>(() => ConnectAsync(silos.Tls.Address, TlsClientOptions.FromFiles(silos.Certificates.CaPem, targetHost: "wrong.example")));
        Assert.Contains("not for 'wrong.example'", misnamed.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1", misnamed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mutual_TLS_refuses_a_client_without_a_trusted_certificate_and_serves_one_with()
    {
        var certificates = silos.Certificates;
        var none = await Assert.ThrowsAsync<ClientConnectException>(() => ConnectAsync(silos.Mutual.Address, TlsClientOptions.FromFiles(certificates.CaPem)));
        Assert.Contains("requires a client certificate", none.Message, StringComparison.Ordinal);
        Assert.Contains("TlsClientOptions.ClientCertificate", none.Message, StringComparison.Ordinal);

        var foreign = await Assert.ThrowsAsync<ClientConnectException>(() => ConnectAsync(silos.Mutual.Address,
            TlsClientOptions.FromFiles(certificates.CaPem, certificates.OtherClientCertificatePem, certificates.OtherClientKeyPem)));
        Assert.Contains("does not trust the client certificate", foreign.Message, StringComparison.Ordinal);
        Assert.Contains("CN=impostor client", foreign.Message, StringComparison.Ordinal);

        await using var client = await ConnectAsync(silos.Mutual.Address,
            TlsClientOptions.FromFiles(certificates.CaPem, certificates.ClientCertificatePem, certificates.ClientKeyPem));
        Assert.Equal(31, await client.GetComponent<IAccount>($"mtls-{Guid.NewGuid():N}").Deposit(31));
        await silos.Mutual.WaitForOutputAsync("requires a client certificate (mutual TLS) and none was presented");
    }

    [Fact]
    public async Task Mw_reaches_a_mutual_TLS_silo_with_its_certificate_and_names_the_fix_without()
    {
        var certificates = silos.Certificates;
        var key = $"mw-{Guid.NewGuid():N}"[..16];
        var plain = await AdminFixture.Mw("outcome", "x:1", "--component", $"Account/{key}", "--fence", "--store", silos.MutualStore);
        Assert.Equal(2, plain.Code);
        Assert.Contains("requires TLS", plain.Err, StringComparison.Ordinal);
        Assert.Contains("mw --tls", plain.Err, StringComparison.Ordinal);

        var missingKey = await AdminFixture.Mw("outcome", "x:1", "--component", $"Account/{key}", "--fence", "--store", silos.MutualStore,
            "--tls-ca", certificates.CaPem, "--tls-certificate", Path.Combine(certificates.Directory, "nope.pem"));
        Assert.Equal(2, missingKey.Code);
        Assert.Contains("--tls-certificate", missingKey.Err, StringComparison.Ordinal);
        Assert.Contains("does not exist", missingKey.Err, StringComparison.Ordinal);

        var run = await AdminFixture.Mw("outcome", "x:1", "--component", $"Account/{key}", "--fence", "--store", silos.MutualStore, "--json",
            "--tls-ca", certificates.CaPem, "--tls-certificate", certificates.ClientCertificatePem, "--tls-key", certificates.ClientKeyPem);
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("\"fenced\"", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_silos_forward_to_each_other_over_mutual_TLS()
    {
        var directory = Directory.CreateTempSubdirectory("mw-tls-cluster-").FullName;
        var store = $"sqlite:{Path.Combine(directory, "middleware.db")}";
        var prefix = "t" + Guid.NewGuid().ToString("N")[..6];
        await using var first = await SiloProcess.StartAsync(store, [.. Silos.MutualArgs(silos.Certificates), "--silo-id", $"{prefix}-1", "--dead-after-ms", "1500"]);
        await using var second = await SiloProcess.StartAsync(store, [.. Silos.MutualArgs(silos.Certificates), "--silo-id", $"{prefix}-2", "--dead-after-ms", "1500"]);
        await using var client = await ConnectAsync(first.Address,
            TlsClientOptions.FromFiles(silos.Certificates.CaPem, silos.Certificates.ClientCertificatePem, silos.Certificates.ClientKeyPem), routeToOwners: false);

        // Until the first silo's view holds the second (a heartbeat after it joined), it places everything on itself;
        // once it does, new accounts land on both, those on the second through a mutual-TLS forward.
        await first.WaitForMetricAsync("middleware_cluster_live_silos", 2, TimeSpan.FromSeconds(30));
        await using var log = await LogStores.OpenAsync(store);
        var keys = new List<string>();
        var owners = new List<string?>();
        for (var i = 0; i < 200 && (i < 16 || !owners.Contains(second.SiloId)); i++)
        {
            var key = $"fw-{prefix}-{i}";
            keys.Add(key);
            Assert.Equal(5, await client.GetComponent<IAccount>(key).Deposit(5));
            owners.Add((await log.GetHeadAsync($"Account/{key}"))?.Owner);
        }

        Assert.Contains(second.SiloId, owners);
        Assert.Contains(first.SiloId, owners);
        foreach (var key in keys) Assert.Equal(5, await client.GetComponent<IAccount>(key).Balance());
    }

    internal static Task<MiddlewareClient> ConnectAsync(string gateway, TlsClientOptions? tls, bool routeToOwners = true) =>
        MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = [gateway],
            Tls = tls,
            DiscoverGateways = false,
            RouteToOwners = routeToOwners,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AttemptTimeout = TimeSpan.FromSeconds(10),
            RequestTimeout = TimeSpan.FromSeconds(30),
        });

    private static bool Contains(byte[] haystack, string needle) => haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0;

    /// <summary>The certificates and three single-silo clusters shared by the tests of this class.</summary>
    public sealed class Silos : IAsyncLifetime
    {
        private readonly string _directory = Directory.CreateTempSubdirectory("mw-tls-silos-").FullName;

        internal TestCertificates Certificates { get; } = TestCertificates.Create();

        internal SiloProcess Tls { get; private set; } = null!;

        internal SiloProcess Mutual { get; private set; } = null!;

        internal SiloProcess Plain { get; private set; } = null!;

        internal string MutualStore => $"sqlite:{Path.Combine(_directory, "mutual.db")}";

        internal static string[] TlsArgs(TestCertificates certificates) =>
            ["--tls-certificate", certificates.SiloCertificatePem, "--tls-key", certificates.SiloKeyPem];

        internal static string[] MutualArgs(TestCertificates certificates) =>
            [.. TlsArgs(certificates), "--tls-ca", certificates.CaPem, "--tls-client-certificates", "required"];

        public async Task InitializeAsync()
        {
            Tls = await SiloProcess.StartAsync($"sqlite:{Path.Combine(_directory, "tls.db")}", TlsArgs(Certificates));
            Mutual = await SiloProcess.StartAsync(MutualStore, MutualArgs(Certificates));
            Plain = await SiloProcess.StartAsync($"sqlite:{Path.Combine(_directory, "plain.db")}");
        }

        public async Task DisposeAsync()
        {
            foreach (var silo in new[] { Tls, Mutual, Plain })
            {
                if (silo is not null) await silo.DisposeAsync();
            }

            Certificates.Dispose();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // Left in the temp directory: harmless.
            }
        }
    }
}
