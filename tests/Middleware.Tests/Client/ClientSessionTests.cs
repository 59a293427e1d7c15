using Middleware.Client;
using Middleware.Tests.Support;

namespace Middleware.Tests.Client;

/// <summary>The client's virtual session as the store records it: request numbers in blocks, opens counted once per open.</summary>
public sealed class ClientSessionTests
{
    [Fact]
    public async Task A_client_that_outgrows_its_first_block_of_request_ids_counts_as_one_open_and_its_resume_as_the_second()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        string sessionId;
        long last = 0;
        await using (var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [silo.Address] }))
        {
            sessionId = client.SessionId;
            // Several blocks' worth of request numbers (the first block is 1000): the client reserves further blocks.
            for (var i = 0; i < 5000; i++) last = Number(client.NextRequestId());
        }

        var used = await silo.Store.GetSessionAsync(sessionId);
        Assert.True(used!.Reserved >= 5000, $"reserved {used.Reserved}");
        Assert.Equal(1, used.Opens);
        Assert.Equal(used.CreatedAt, used.LastOpenedAt);

        // A restarted process resumes the session: that is an open, and its numbers come after every one handed out.
        await using var resumed = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [silo.Address], SessionId = sessionId });
        Assert.True(Number(resumed.NextRequestId()) > last);
        Assert.Equal(2, (await silo.Store.GetSessionAsync(sessionId))!.Opens);
    }

    private static long Number(string requestId) => long.Parse(requestId[(requestId.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
}
