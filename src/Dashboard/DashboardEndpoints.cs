using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Middleware.Grains;
using Middleware.Inspection;
using Middleware.Inspection.Audit;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Dashboard;

/// <summary>
/// Serves the dashboard under <c>/dashboard</c>: the page (HTML, CSS, JavaScript embedded in this assembly) and the JSON
/// API under <c>/dashboard/api/</c>, whose answers are <c>mw --json</c>'s shapes, built by the same code
/// (<see cref="ClusterView"/>, <see cref="ComponentView"/>, <see cref="RequestLookup"/>, <see cref="MirrorView"/>,
/// <see cref="AuditEngine"/>). Read-only: GET and HEAD only, and nothing in it changes the store or a silo. With an
/// <see cref="DashboardOptions.AccessKey"/> every API call needs <c>Authorization: Bearer KEY</c>.
/// </summary>
public static class DashboardEndpoints
{
    /// <summary>The path prefix the dashboard answers.</summary>
    public const string Prefix = "/dashboard";

    private static readonly JsonSerializerOptions Json = new(JsonShapes.Options) { WriteIndented = false };
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(2) };

    /// <summary>Whether <paramref name="path"/> is the dashboard's.</summary>
    public static bool Handles(PathString path) => path.StartsWithSegments(Prefix, StringComparison.Ordinal);

    /// <summary>Answers one request under <see cref="Prefix"/>.</summary>
    public static async Task HandleAsync(HttpContext context, DashboardOptions options)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        var request = context.Request;
        var response = context.Response;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["X-Frame-Options"] = "DENY";
        response.Headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            // Read-only: nothing here changes anything, so only GET and HEAD are answered.
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return;
        }

        var path = request.Path.Value![Prefix.Length..];
        if (!path.StartsWith("/api/", StringComparison.Ordinal))
        {
            await ServeFileAsync(context, path).ConfigureAwait(false);
            return;
        }

        response.Headers.CacheControl = "no-store";
        if (!Authorized(request, options.AccessKey))
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"middleware dashboard\"";
            await WriteAsync(context, StatusCodes.Status401Unauthorized,
                new ProblemShape("this dashboard needs the silo's admin key (the cluster key when no admin key is set): enter it in the page, or send Authorization: Bearer KEY")).ConfigureAwait(false);
            return;
        }

        try
        {
            var answer = await AnswerAsync(context, path["/api/".Length..], options).ConfigureAwait(false);
            if (answer is null) await WriteAsync(context, StatusCodes.Status404NotFound, new ProblemShape($"no dashboard API '{Printable(path)}'; see docs/dashboard.md")).ConfigureAwait(false);
            else await WriteAsync(context, StatusCodes.Status200OK, answer).ConfigureAwait(false);
        }
        catch (InspectionException e)
        {
            var status = e.Message.StartsWith("No component", StringComparison.Ordinal) ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest;
            await WriteAsync(context, status, new ProblemShape(e.Message)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or Core.UnknownComponentException)
        {
            await WriteAsync(context, StatusCodes.Status400BadRequest, new ProblemShape(e.Message)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ReplayDivergenceException or CorruptRecordException or InvalidDataException)
        {
            // The store holds what the code cannot reproduce or read: the answer is the finding itself.
            await WriteAsync(context, StatusCodes.Status409Conflict, new ProblemShape(e.Message)).ConfigureAwait(false);
        }
        catch (StoreUnavailableException e)
        {
            await WriteAsync(context, StatusCodes.Status503ServiceUnavailable, new ProblemShape(e.Message)).ConfigureAwait(false);
        }
        catch (ScanRunningException e)
        {
            response.Headers.RetryAfter = "5";
            await WriteAsync(context, StatusCodes.Status429TooManyRequests, new ProblemShape(e.Message)).ConfigureAwait(false);
        }
    }

    /// <summary>Another call of this dashboard that reads every component is still running.</summary>
    private sealed class ScanRunningException(string message) : Exception(message);

    /// <summary>Runs <paramref name="scan"/> unless another store-wide call of this dashboard runs (then a 429 naming the way out).</summary>
    private static async Task<T> OneScanAtATimeAsync<T>(DashboardOptions options, string what, Func<Task<T>> scan)
    {
        if (!await options.StoreScans.WaitAsync(0).ConfigureAwait(false))
            throw new ScanRunningException($"this dashboard is already running a call that reads every component (an audit or an outcome search); {what} waits for it: try again when it has answered, or run mw from a shell (mw audit, mw outcome), which this limit does not cover.");
        try
        {
            return await scan().ConfigureAwait(false);
        }
        finally
        {
            options.StoreScans.Release();
        }
    }

    /// <summary>The answer of one API call, or null for an unknown one.</summary>
    private static async Task<object?> AnswerAsync(HttpContext context, string api, DashboardOptions options)
    {
        var query = context.Request.Query;
        var ct = context.RequestAborted;
        if (api == "stats") return options.LocalStats?.Invoke() ?? throw new InspectionException("this dashboard is not a silo's: it has no request counters of its own (see /dashboard/api/throughput)");
        var store = options.Store() ?? throw new StoreUnavailableException($"{options.Source} has no open store right now (starting or stopping); try again in a moment.");
        switch (api)
        {
            case "about":
                return new AboutShape(options.Source, store.Name, options.Registry is not null,
                    options.Registry?.Types.Select(t => t.Name).Order(StringComparer.Ordinal).ToList() ?? [], options.AccessKey is not null);
            case "cluster":
                return await ClusterView.StatusAsync(Cluster(store), options.Asking, ct).ConfigureAwait(false);
            case "mirrors":
                return await MirrorView.ListAsync(Cluster(store), null, options.Asking, ct).ConfigureAwait(false);
            case "throughput":
                return await ThroughputAsync(context, Cluster(store), options).ConfigureAwait(false);
            case "busiest":
            {
                var top = Int(query, "top", 10, 1, 1000);
                var heads = await store.ListComponentsAsync(ct).ConfigureAwait(false);
                return new BusiestShape(heads.Count, heads.OrderByDescending(h => h.LastSeq).ThenBy(h => h.ComponentId, StringComparer.Ordinal).Take(top)
                    .Select(h => new BusyComponentShape(h.ComponentId, h.Owner, h.Epoch, h.LastSeq, h.CheckpointSeq)).ToList());
            }

            case "components":
            {
                var type = query["type"].ToString();
                var limit = Int(query, "limit", 200, 1, 10_000);
                var rows = new List<ComponentShape>();
                foreach (var head in (await store.ListComponentsAsync(ct).ConfigureAwait(false)).OrderBy(h => h.ComponentId, StringComparer.Ordinal))
                {
                    if (type.Length > 0 && ComponentView.TypeOf(head.ComponentId) != type) continue;
                    if (rows.Count == limit) break;
                    rows.Add(await ComponentView.ShapeAsync(store, head, ct).ConfigureAwait(false));
                }

                return new ComponentListShape(rows);
            }

            case "component":
            {
                var head = await ComponentView.HeadAsync(store, Id(query, "id"), ct).ConfigureAwait(false);
                return await ComponentView.ShapeAsync(store, head, ct).ConfigureAwait(false);
            }

            case "log":
            {
                var head = await ComponentView.HeadAsync(store, Id(query, "id"), ct).ConfigureAwait(false);
                // Without a range: the last 50 records.
                var to = query.ContainsKey("to") ? Long(query, "to", 1) : head.LastSeq;
                var from = query.ContainsKey("from") ? Long(query, "from", 1) : Math.Max(1, to - 49);
                if (to < from) throw new InspectionException($"from {from} is after to {to}; give from at most to (both are seqs, 1 is the first turn).");
                if (to - from >= 1000) throw new InspectionException($"from {from} to {to} is {to - from + 1} records; ask for at most 1000 at a time.");
                return await ComponentView.LogAsync(store, head, from, to, ct).ConfigureAwait(false);
            }

            case "state":
            {
                var registry = options.Registry ?? throw new InspectionException("this dashboard has no component assembly, so it cannot rebuild state: start mw dashboard with --components PATH");
                long? seq = query.ContainsKey("seq") && query["seq"].ToString().Length > 0 ? Long(query, "seq", 0) : null;
                DateTime? asOf = query["asOf"].ToString() is { Length: > 0 } text ? ComponentView.ParseTime(text, "as of") : null;
                return await ComponentView.StateAsync(store, registry, Id(query, "id"), seq, asOf, ct).ConfigureAwait(false);
            }

            case "outcome":
            {
                var requestId = query["requestId"].ToString();
                if (string.IsNullOrWhiteSpace(requestId)) throw new InspectionException("the request id is empty; give the id the request was sent with (a session's look like SESSION:n).");
                if (query["component"].ToString() is { Length: > 0 })
                {
                    var head = await ComponentView.HeadAsync(store, Id(query, "component"), ct).ConfigureAwait(false);
                    return await RequestLookup.FindAsync(store, head, requestId, ct).ConfigureAwait(false);
                }

                return await OneScanAtATimeAsync(options, "an outcome search without a component",
                    async () => await RequestLookup.ScanAsync(store, await store.ListComponentsAsync(ct).ConfigureAwait(false), requestId, null, ct).ConfigureAwait(false)).ConfigureAwait(false);
            }

            case "audit":
                return await OneScanAtATimeAsync(options, "an audit", () => AuditAsync(store, query, options, ct)).ConfigureAwait(false);
            default:
                return null;
        }
    }

    private static async Task<AuditShape> AuditAsync(ILogStore store, IQueryCollection query, DashboardOptions options, CancellationToken ct)
    {
        var registry = options.Registry ?? throw new InspectionException("this dashboard has no component assembly, so it cannot audit: start mw dashboard with --components PATH");
        IReadOnlyList<Recovery.Log.ComponentHead> heads;
        if (query["component"].ToString() is { Length: > 0 })
        {
            heads = [await ComponentView.HeadAsync(store, Id(query, "component"), ct).ConfigureAwait(false)];
        }
        else
        {
            var type = query["type"].ToString();
            if (type.Length == 0 && query["all"] != "1") throw new InspectionException("say what to audit: component=Type/key, type=T, or all=1");
            heads = (await store.ListComponentsAsync(ct).ConfigureAwait(false)).Where(h => type.Length == 0 || ComponentView.TypeOf(h.ComponentId) == type).ToList();
            if (heads.Count == 0) throw new InspectionException(type.Length == 0 ? $"no components in {store.Name}: nothing to audit" : $"no components of type '{type}' in {store.Name}");
        }

        // Half the processors at most: a silo's dashboard shares them with the turns it serves.
        var audit = new AuditOptions { Mode = query["mode"] == "genesis" ? AuditMode.FromGenesis : AuditMode.FromCheckpoint, Parallelism = Math.Max(1, Environment.ProcessorCount / 2) };
        return AuditShapes.Shape(await new AuditEngine(store, registry).RunAsync(heads, audit, null, ct).ConfigureAwait(false));
    }

    /// <summary>Every silo's counters: this silo's directly, the other live ones' from their <c>/dashboard/api/stats</c>.</summary>
    private static async Task<ThroughputShape> ThroughputAsync(HttpContext context, IClusterStore cluster, DashboardOptions options)
    {
        var silos = await cluster.ListSilosAsync(context.RequestAborted).ConfigureAwait(false);
        var authorization = context.Request.Headers.Authorization.ToString();
        var rows = await Task.WhenAll(silos.Select(async s =>
        {
            var status = ClusterView.StatusOf(s);
            if (s.SiloId == options.LocalSiloId && options.LocalStats?.Invoke() is { } local) return new SiloThroughputShape(s.SiloId, status, local, null);
            if (status != "live") return new SiloThroughputShape(s.SiloId, status, null, null);
            if (string.IsNullOrEmpty(s.HttpAddress)) return new SiloThroughputShape(s.SiloId, status, null, "no HTTP address in the silos table");
            try
            {
                using var ask = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://{s.HttpAddress}{Prefix}/api/stats"));
                if (authorization.Length > 0) ask.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
                using var answer = await Http.SendAsync(ask, context.RequestAborted).ConfigureAwait(false);
                if (!answer.IsSuccessStatusCode) return new SiloThroughputShape(s.SiloId, status, null, $"{s.HttpAddress} answered {(int)answer.StatusCode}");
                var stats = await answer.Content.ReadFromJsonAsync<SiloStatsShape>(Json, context.RequestAborted).ConfigureAwait(false);
                return new SiloThroughputShape(s.SiloId, status, stats, null);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or UriFormatException or FormatException)
            {
                return new SiloThroughputShape(s.SiloId, status, null, $"{s.HttpAddress}: {(e is TaskCanceledException ? "no answer within 2 s" : e.Message)}");
            }
        })).ConfigureAwait(false);
        return new ThroughputShape(options.Time.GetUtcNow().UtcDateTime, rows);
    }

    private static IClusterStore Cluster(ILogStore store) =>
        store as IClusterStore ?? throw new InspectionException($"{store.Name} has no cluster tables (a memory store?); the cluster pages need a shared store.");

    private static ComponentId Id(IQueryCollection query, string name)
    {
        var text = query[name].ToString();
        if (string.IsNullOrWhiteSpace(text)) throw new InspectionException($"{name} is empty; write it as Type/key, e.g. Account/acct-07.");
        return ComponentId.Parse(text);
    }

    private static long Long(IQueryCollection query, string name, long min) =>
        long.TryParse(query[name].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min
            ? value
            : throw new InspectionException($"{name} '{Printable(query[name].ToString())}' is not a whole number of at least {min}.");

    private static int Int(IQueryCollection query, string name, int fallback, int min, int max)
    {
        if (!query.ContainsKey(name)) return fallback;
        var value = Long(query, name, min);
        return value <= max ? (int)value : throw new InspectionException($"{name} {value} is too large; give at most {max}.");
    }

    /// <summary>
    /// Whether the request carries the key (<c>Authorization: Bearer KEY</c>), compared in constant time by hash; with no key
    /// set everything is authorized.
    /// </summary>
    private static bool Authorized(HttpRequest request, string? key)
    {
        if (key is null) return true;
        var header = request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, SHA256.HashData(Encoding.UTF8.GetBytes(key)));
    }

    private static async Task ServeFileAsync(HttpContext context, string path)
    {
        var name = path is "" or "/" ? "index.html" : path.TrimStart('/');
        var (type, found) = Path.GetExtension(name) switch
        {
            ".html" => ("text/html; charset=utf-8", true),
            ".js" => ("text/javascript; charset=utf-8", true),
            ".css" => ("text/css; charset=utf-8", true),
            ".svg" => ("image/svg+xml", true),
            _ => ("", false),
        };
        await using var resource = found && !name.Contains('/', StringComparison.Ordinal) ? typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("dashboard/" + name) : null;
        if (resource is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        context.Response.ContentType = type;
        context.Response.ContentLength = resource.Length;
        if (HttpMethods.IsHead(context.Request.Method)) return;
        await resource.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task WriteAsync(HttpContext context, int status, object body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        if (HttpMethods.IsHead(context.Request.Method)) return;
        await JsonSerializer.SerializeAsync(context.Response.Body, body, body.GetType(), Json, context.RequestAborted).ConfigureAwait(false);
    }

    private static string Printable(string text) => Core.Printable.Escape(text);
}
