using System.Text;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Tests.Cluster;

namespace Middleware.Tests.Silo;

/// <summary>What each credential may do on a real silo process.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SiloAuthorizationTests
{
    [Fact]
    public async Task A_client_credential_is_refused_move_and_fencing_another_sessions_id()
    {
        var dir = Directory.CreateTempSubdirectory("mw-authz-").FullName;
        try
        {
            var store = $"sqlite:{Path.Combine(dir, "middleware.db")}";
            await using var silo = await SiloProcess.StartAsync(store, "--silo-id", "authz-1", "--cluster-key", "sesame-0123456789");
            await using var client = await MiddlewareConnection.ConnectAsync(silo.Protocol, new ConnectionOptions { SenderId = "c", ClusterKey = "sesame-0123456789" });

            var move = await client.InvokeAsync(new InvokeMessage("Account", "a", ProtocolConstants.Move, "$control:1", null, null, ControlCodec.Encode(new MoveRequest("authz-1")), InvokeFlags.Control));
            Assert.Equal(ReplyStatus.BadRequest, move.Status);
            Assert.Contains("admin", move.Detail);

            var fence = await client.InvokeAsync(new InvokeMessage("Account", "a", "$outcome", "victim:1", null, null, default, InvokeFlags.Outcome));
            Assert.Equal(ReplyStatus.BadRequest, fence.Status);
            var deposit = await client.InvokeAsync(new InvokeMessage("Account", "a", "Deposit", "victim:2", null, null, Encoding.UTF8.GetBytes("[1]")));
            Assert.Equal(ReplyStatus.BadRequest, deposit.Status);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
