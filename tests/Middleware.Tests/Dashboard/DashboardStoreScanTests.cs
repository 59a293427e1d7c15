using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Middleware.Dashboard;
using Middleware.Inspection;
using Middleware.Protocol;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Recovery.Stores;

namespace Middleware.Tests.Dashboard;

/// <summary>
/// The dashboard runs one call that reads every component at a time (an audit, an outcome search without a component):
/// a second one while the first runs is answered 429 with a Retry-After and a message naming the way out, instead of
/// stacking whole-store scans on the silo that serves the turns. Calls that read one component are not held back.
/// </summary>
public sealed class DashboardStoreScanTests
{
    [Fact]
    public async Task A_second_store_wide_call_while_one_runs_is_answered_429_and_runs_once_the_first_is_done()
    {
        await using var store = await LogStores.OpenAsync("memory:");
        var options = new DashboardOptions
        {
            Source = "test",
            Store = () => store,
            Registry = new ComponentRegistry(),
            Asking = new SiloAsking("test", PeerRole.Silo, null, null, "no key"),
        };

        // A store-wide call is running (held here as the gate a running audit holds).
        Assert.True(await options.StoreScans.WaitAsync(0));
        var (status, retryAfter, body) = await GetAsync(options, "/dashboard/api/audit", "?all=1");
        Assert.Equal(StatusCodes.Status429TooManyRequests, status);
        Assert.Equal("5", retryAfter);
        Assert.Contains("mw audit", body, StringComparison.Ordinal);
        (status, _, body) = await GetAsync(options, "/dashboard/api/outcome", "?requestId=s%3A1");
        Assert.Equal(StatusCodes.Status429TooManyRequests, status);
        Assert.Contains("outcome search", body, StringComparison.Ordinal);
        // A call about one component is not held back by it.
        (status, _, _) = await GetAsync(options, "/dashboard/api/component", "?id=Account%2Fnobody");
        Assert.Equal(StatusCodes.Status404NotFound, status);

        // Once it is done, the same audit runs (and says what it found: an empty store has nothing to audit).
        options.StoreScans.Release();
        (status, _, body) = await GetAsync(options, "/dashboard/api/audit", "?all=1");
        Assert.Equal(StatusCodes.Status400BadRequest, status);
        Assert.Contains("nothing to audit", body, StringComparison.Ordinal);
        (status, _, body) = await GetAsync(options, "/dashboard/api/outcome", "?requestId=s%3A1");
        Assert.Equal(StatusCodes.Status200OK, status);
        // And a failed call gave the gate back: the next one is not refused.
        (status, _, _) = await GetAsync(options, "/dashboard/api/audit", "?all=1");
        Assert.Equal(StatusCodes.Status400BadRequest, status);
    }

    private static async Task<(int Status, string? RetryAfter, string Body)> GetAsync(DashboardOptions options, string path, string query)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = path;
        context.Request.QueryString = new QueryString(query);
        using var body = new MemoryStream();
        context.Response.Body = body;
        await DashboardEndpoints.HandleAsync(context, options);
        var text = System.Text.Encoding.UTF8.GetString(body.ToArray());
        if (text.Length > 0) _ = JsonDocument.Parse(text); // every answer is JSON
        return (context.Response.StatusCode, context.Response.Headers.RetryAfter.ToString() is { Length: > 0 } r ? r : null, text);
    }
}
