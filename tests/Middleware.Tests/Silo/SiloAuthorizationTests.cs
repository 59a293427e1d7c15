using System.Text;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Tests.Cluster;

namespace Middleware.Tests.Silo;

/// <summary>What each credential may do on a real silo process whose keys come from files named in its environment.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SiloAuthorizationTests
{
    private const string ClientKey = "client-key-7d41c0b2e9";
    private const string SiloKey = "silo-key-0c8f5ae21b";
    private const string AdminKey = "admin-key-93b7e1f4aa";

    [Fact]
    public async Task A_client_credential_may_use_only_its_own_sessions_and_never_admin_or_silo_operations()
    {
        var dir = Directory.CreateTempSubdirectory("mw-authz-").FullName;
        try
        {
            var environment = new Dictionary<string, string>
            {
                ["MIDDLEWARE_CLIENT_KEY_FILE"] = KeyFile(dir, "client.key", ClientKey),
                ["MIDDLEWARE_SILO_KEY_FILE"] = KeyFile(dir, "silo.key", SiloKey),
                ["MIDDLEWARE_ADMIN_KEY_FILE"] = KeyFile(dir, "admin.key", AdminKey),
            };
            await using var silo = await SiloProcess.StartAsync($"sqlite:{Path.Combine(dir, "middleware.db")}", environment, "--silo-id", "authz-1");
            // No key on the command line: /proc/PID/cmdline shows only the path of nothing secret.
            Assert.DoesNotContain("key", await File.ReadAllTextAsync($"/proc/{silo.Pid}/cmdline"), StringComparison.OrdinalIgnoreCase);

            await using var victim = await Connect(silo, PeerRole.Client, ClientKey);
            var victimSession = await OpenAsync(victim, "");
            await using var mallory = await Connect(silo, PeerRole.Client, ClientKey);
            var own = await OpenAsync(mallory, "");
            Assert.Equal(ReplyStatus.Ok, (await mallory.InvokeAsync(Deposit($"{own.SessionId}:1", own.SessionId))).Status);

            // Admin operations, silo-only flags and caller chains: refused, naming what is needed.
            var move = await mallory.InvokeAsync(new InvokeMessage("Account", "a", ProtocolConstants.Move, "$control:1", null, null, ControlCodec.Encode(new MoveRequest("authz-1")), InvokeFlags.Control));
            AssertDenied(move, "admin operation");
            Assert.Contains("--admin-key-file", move.Detail);
            AssertDenied(await mallory.InvokeAsync(Deposit($"{own.SessionId}:2", own.SessionId) with { Flags = InvokeFlags.Forwarded }), "Forwarded flag is for silos only");
            AssertDenied(await mallory.InvokeAsync(Deposit($"{own.SessionId}:3", own.SessionId) with { Caller = "Teller/t1" }), "caller chain");

            // Another session's ids: neither fenced nor used, and the victim's own request later runs as if nothing happened.
            var victimId = $"{victimSession.SessionId}:1";
            AssertDenied(await mallory.InvokeAsync(new InvokeMessage("Account", "a", "$outcome", victimId, null, null, default, InvokeFlags.Outcome)), "has not proven");
            AssertDenied(await mallory.InvokeAsync(Deposit(victimId, victimSession.SessionId)), "has not proven");
            AssertDenied(await mallory.InvokeAsync(Deposit(victimId, own.SessionId)), "has not proven");
            AssertDenied(await mallory.InvokeAsync(Deposit("free-form-id", own.SessionId)), "SessionId:n");
            var real = await victim.InvokeAsync(Deposit(victimId, victimSession.SessionId));
            Assert.Equal(ReplyStatus.Ok, real.Status);

            // Resuming, proving or using the victim's session needs its token.
            AssertDenied(await Control(mallory, ProtocolConstants.SessionOpen, victimSession.SessionId, ControlCodec.Encode(new SessionReserveRequest(10, "forged-token"))), "is not its token");
            AssertDenied(await Control(mallory, ProtocolConstants.SessionOpen, victimSession.SessionId, ControlCodec.Encode(new SessionReserveRequest(10))), "none was given");
            AssertDenied(await Control(mallory, ProtocolConstants.SessionProve, victimSession.SessionId, ControlCodec.Encode(new SessionProveRequest("forged-token"))), "is not its token");
            AssertDenied(await Control(mallory, ProtocolConstants.SessionClose, victimSession.SessionId, default), "has not proven");

            // The token proves it, on any connection: a restarted client resumes with it.
            await using var restarted = await Connect(silo, PeerRole.Client, ClientKey);
            var resumed = await OpenAsync(restarted, victimSession.SessionId, victimSession.Token);
            Assert.Null(resumed.Token);
            Assert.Equal(ReplyStatus.Ok, (await restarted.InvokeAsync(Deposit($"{victimSession.SessionId}:{resumed.First}", victimSession.SessionId))).Status);

            // The admin key may fence any id; a silo key may forward.
            await using var admin = await Connect(silo, PeerRole.Admin, AdminKey);
            var fenced = await admin.InvokeAsync(new InvokeMessage("Account", "a", "$outcome", $"{victimSession.SessionId}:999", null, null, default, InvokeFlags.Outcome));
            Assert.Equal((ReplyStatus.Error, Middleware.Core.RequestOutcome.FencedErrorType), (fenced.Status, fenced.ErrorType));
            await using var peerSilo = await Connect(silo, PeerRole.Silo, SiloKey);
            Assert.Equal(ReplyStatus.Ok, (await peerSilo.InvokeAsync(Deposit("authz-2:Account/b:1:0", null) with { Flags = InvokeFlags.Forwarded, Caller = "Teller/t" })).Status);

            // A client key is not an admin key: the admin role with it is refused at the handshake.
            var asAdmin = await Assert.ThrowsAsync<HandshakeRejectedException>(() => Connect(silo, PeerRole.Admin, ClientKey));
            Assert.Contains("admin key mismatch", asAdmin.Reason);
            Assert.Equal(1, await silo.ReadMetricAsync("middleware_handshake_credential_failures_total"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task In_a_keyed_cluster_silos_prove_the_silo_key_to_each_other_and_forward_a_clients_proven_session()
    {
        var dir = Directory.CreateTempSubdirectory("mw-authz-").FullName;
        try
        {
            var environment = new Dictionary<string, string> { ["MIDDLEWARE_CLUSTER_KEY_FILE"] = KeyFile(dir, "cluster.key", SiloKey) };
            var store = $"sqlite:{Path.Combine(dir, "middleware.db")}";
            await using var gateway = await SiloProcess.StartAsync(store, environment, "--silo-id", "keyed-1");
            await using var other = await SiloProcess.StartAsync(store, environment, "--silo-id", "keyed-2");
            await using var client = await Middleware.Client.MiddlewareClient.ConnectAsync(new Middleware.Client.MiddlewareClientOptions
            {
                Gateways = [gateway.Address],
                ClientKeyFile = Path.Combine(dir, "cluster.key"),
                DiscoverGateways = false,
                RouteToOwners = false,
            });

            // Rendezvous places some of these on keyed-2 once the gateway's view holds it (within a heartbeat): the
            // gateway forwards them over a silo-key connection.
            await gateway.WaitForMetricAsync("middleware_cluster_live_silos", 2, TimeSpan.FromSeconds(30));
            for (var i = 0; i < 200 && await gateway.ReadMetricAsync("middleware_requests_forwarded_total") == 0; i++)
                Assert.Equal(3, await client.GetComponent<Bank.IAccount>($"k{i}").Deposit(3));

            Assert.True(await gateway.ReadMetricAsync("middleware_requests_forwarded_total") > 0, "nothing was forwarded");
            Assert.Equal(0, await other.ReadMetricAsync("middleware_handshake_credential_failures_total"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_silo_without_a_key_warns_loudly_only_when_other_machines_can_reach_it()
    {
        var dir = Directory.CreateTempSubdirectory("mw-authz-").FullName;
        try
        {
            await using (var exposed = await SiloProcess.StartAsync($"sqlite:{Path.Combine(dir, "a.db")}", "--silo-id", "open-1", "--address", "0.0.0.0"))
            {
                Assert.Contains("SECURITY: silo open-1 listens on 0.0.0.0", exposed.Stdout + exposed.Stderr);
                Assert.Contains("--cluster-key-file", exposed.Stdout + exposed.Stderr);
            }

            await using var laptop = await SiloProcess.StartAsync($"sqlite:{Path.Combine(dir, "b.db")}", "--silo-id", "open-2");
            Assert.DoesNotContain("SECURITY:", laptop.Stdout + laptop.Stderr);
            // Laptop mode: no key, and a client may do anything, as before.
            await using var client = await laptop.ConnectAsync();
            Assert.Equal(ReplyStatus.Ok, (await client.InvokeAsync(Deposit("anything:1", null))).Status);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string KeyFile(string dir, string name, string key)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, key + "\n");
        return path;
    }

    private static Task<MiddlewareConnection> Connect(SiloProcess silo, PeerRole role, string key) =>
        MiddlewareConnection.ConnectAsync(silo.Protocol, new ConnectionOptions { SenderId = $"test-{role}", Role = role, Key = key, RequestTimeout = TimeSpan.FromSeconds(30) });

    private static InvokeMessage Deposit(string requestId, string? sessionId) =>
        new("Account", "a", "Deposit", requestId, sessionId, null, Encoding.UTF8.GetBytes("[1]"));

    private static Task<ReplyMessage> Control(MiddlewareConnection connection, string operation, string key, ReadOnlyMemory<byte> args) =>
        connection.InvokeAsync(new InvokeMessage("$session", key, operation, "$control:" + Guid.NewGuid().ToString("N"), null, null, args, InvokeFlags.Control));

    private static async Task<SessionBlock> OpenAsync(MiddlewareConnection connection, string sessionId, string? token = null)
    {
        var reply = await Control(connection, ProtocolConstants.SessionOpen, sessionId, ControlCodec.Encode(new SessionReserveRequest(10, token)));
        Assert.Equal(ReplyStatus.Ok, reply.Status);
        return ControlCodec.DecodeSessionBlock(reply.Result, ProtocolConstants.SessionOpen);
    }

    private static void AssertDenied(ReplyMessage reply, string because)
    {
        Assert.Equal((ReplyStatus.BadRequest, ReplyCondition.Unauthorized), (reply.Status, reply.Condition));
        Assert.Contains(because, reply.Detail);
    }
}
