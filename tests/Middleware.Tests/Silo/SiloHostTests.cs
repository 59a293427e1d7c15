using System.Text;
using System.Text.Json;
using Middleware.Protocol;
using Middleware.Tests.Support;

namespace Middleware.Tests.Silo;

/// <summary>One silo process on a temporary SQLite store, shared by the tests of <see cref="SiloHostTests"/>.</summary>
public sealed class SiloFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-").FullName;

    internal SiloProcess Silo { get; private set; } = null!;

    public async Task InitializeAsync() => Silo = await SiloProcess.StartAsync($"sqlite:{Path.Combine(_directory, "middleware.db")}");

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>The silo host end to end: a real process, the binary protocol over a socket, HTTP endpoints.</summary>
public sealed class SiloHostTests(SiloFixture fixture) : IClassFixture<SiloFixture>
{
    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    internal static InvokeMessage Call(string type, string key, string method, string requestId, string args = "[]") =>
        new(type, key, method, requestId, SessionId: null, Caller: null, Encoding.UTF8.GetBytes(args));

    internal static InvokeMessage Deposit(string account, string requestId, long amount) => Call("Account", account, "Deposit", requestId, $"[{amount}]");

    private static long Number(ReplyMessage reply)
    {
        Assert.True(reply.Status == ReplyStatus.Ok, reply.ToString());
        return long.Parse(Encoding.UTF8.GetString(reply.Result.Span), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void The_listening_line_names_the_bound_ports_store_and_components()
    {
        var silo = fixture.Silo;
        Assert.NotEqual(0, silo.Protocol.Port);
        Assert.NotEqual(0, silo.Http.Port);
        Assert.NotEqual(silo.Protocol.Port, silo.Http.Port);
        Assert.Contains("store sqlite:", silo.ListeningLine);
        Assert.EndsWith("components Account, Teller", silo.ListeningLine);
    }

    [Fact]
    public async Task Deposits_round_trip_with_the_right_balances()
    {
        await using var connection = await fixture.Silo.ConnectAsync();
        Assert.Equal(fixture.Silo.SiloId, connection.RemoteSiloId);
        var account = Unique("acct");
        Assert.Equal(10, Number(await connection.InvokeAsync(Deposit(account, Unique("r"), 10))));
        Assert.Equal(35, Number(await connection.InvokeAsync(Deposit(account, Unique("r"), 25))));
        Assert.Equal(35, Number(await connection.InvokeAsync(Call("Account", account, "Balance", Unique("r")))));

        // Many accounts at once, pipelined on one connection: each ends at its own total.
        var accounts = Enumerable.Range(0, 8).Select(i => Unique($"many{i}")).ToArray();
        var replies = await Task.WhenAll(accounts.SelectMany(a => Enumerable.Range(1, 10).Select(n => connection.InvokeAsync(Deposit(a, Unique("r"), n)))));
        Assert.All(replies, r => Assert.Equal(ReplyStatus.Ok, r.Status));
        foreach (var a in accounts)
            Assert.Equal(55, Number(await connection.InvokeAsync(Call("Account", a, "Balance", Unique("r")))));
    }

    [Fact]
    public async Task The_same_request_id_twice_gets_the_same_reply_and_applies_once()
    {
        await using var connection = await fixture.Silo.ConnectAsync();
        var account = Unique("dup");
        var requestId = Unique("r");
        var first = await connection.InvokeAsync(Deposit(account, requestId, 7));
        var again = await connection.InvokeAsync(Deposit(account, requestId, 7));
        Assert.Equal(first, again);
        Assert.Equal(7, Number(await connection.InvokeAsync(Call("Account", account, "Balance", Unique("r")))));

        // The same id with other arguments is a client bug, refused without running.
        var reused = await connection.InvokeAsync(Deposit(account, requestId, 8));
        Assert.Equal(ReplyStatus.BadRequest, reused.Status);
        Assert.Contains(requestId, reused.Detail);
    }

    [Fact]
    public async Task An_unknown_component_type_is_NotFound_and_the_connection_keeps_working()
    {
        await using var connection = await fixture.Silo.ConnectAsync();
        var unknown = await connection.InvokeAsync(Call("NoSuchThing", "k", "Run", Unique("r")));
        Assert.Equal(ReplyStatus.NotFound, unknown.Status);
        Assert.Contains("NoSuchThing", unknown.Detail);
        Assert.Contains("Account", unknown.Detail); // the message lists the known types

        var noMethod = await connection.InvokeAsync(Call("Account", Unique("a"), "Steal", Unique("r")));
        Assert.Equal(ReplyStatus.NotFound, noMethod.Status);
        Assert.Contains("Steal", noMethod.Detail);

        Assert.Equal(3, Number(await connection.InvokeAsync(Deposit(Unique("after"), Unique("r"), 3))));
        Assert.True(connection.IsConnected);
    }

    [Fact]
    public async Task A_component_error_is_an_Error_reply_with_the_exception_type()
    {
        await using var connection = await fixture.Silo.ConnectAsync();
        var account = Unique("overdraft");
        Assert.Equal(5, Number(await connection.InvokeAsync(Deposit(account, Unique("r"), 5))));
        var reply = await connection.InvokeAsync(Call("Account", account, "Withdraw", Unique("r"), "[50]"));
        Assert.Equal(ReplyStatus.Error, reply.Status);
        Assert.Equal("Bank.InsufficientFundsException", reply.ErrorType);
        Assert.Contains("balance is 5", reply.ErrorMessage);
        Assert.Equal(5, Number(await connection.InvokeAsync(Call("Account", account, "Balance", Unique("r")))));
    }

    [Fact]
    public async Task Malformed_arguments_are_a_BadRequest()
    {
        await using var connection = await fixture.Silo.ConnectAsync();
        var reply = await connection.InvokeAsync(Call("Account", Unique("a"), "Deposit", Unique("r"), "[\"not a number\"]"));
        Assert.True(reply.Status == ReplyStatus.BadRequest, reply.ToString());
        Assert.True(connection.IsConnected);
    }

    [Fact]
    public async Task Health_and_metrics_answer_over_http()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{fixture.Silo.Http}") };
        using var health = await http.GetAsync("/health");
        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("application/json", health.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await health.Content.ReadAsStringAsync());
        Assert.Equal("ok", json.RootElement.GetProperty("status").GetString());
        Assert.Equal(fixture.Silo.SiloId, json.RootElement.GetProperty("siloId").GetString());
        Assert.StartsWith("sqlite:", json.RootElement.GetProperty("store").GetString());
        Assert.True(json.RootElement.GetProperty("activations").GetInt32() >= 0);

        await using (var connection = await fixture.Silo.ConnectAsync())
            Number(await connection.InvokeAsync(Deposit(Unique("metrics"), Unique("r"), 1)));
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Matches(@"(?m)^middleware_connections_accepted_total [1-9]\d*$", metrics);
        Assert.Matches(@"(?m)^middleware_writer_records_total [1-9]\d*$", metrics);
        Assert.Matches(@"(?m)^middleware_activations [1-9]\d*$", metrics);
        Assert.Contains("# TYPE middleware_writer_batches_total counter", metrics);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/metrics")]
    public async Task Health_and_metrics_answer_GET_and_HEAD_only_and_refuse_other_methods_with_405_and_Allow(string path)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{fixture.Silo.Http}") };
        using (var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, path)))
        {
            Assert.True(head.IsSuccessStatusCode, $"HEAD {path}: {head.StatusCode}");
            Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        }

        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Delete, HttpMethod.Put, HttpMethod.Patch, HttpMethod.Options, new HttpMethod("TRACE") })
        {
            using var refused = await http.SendAsync(new HttpRequestMessage(method, path) { Content = method == HttpMethod.Post ? new StringContent("x") : null });
            Assert.True(refused.StatusCode == System.Net.HttpStatusCode.MethodNotAllowed, $"{method} {path} answered {(int)refused.StatusCode}");
            Assert.Equal(["GET", "HEAD"], refused.Content.Headers.Allow.Order(StringComparer.Ordinal));
            // Nothing of the endpoint leaks in a refused answer (TRACE must not echo the request either).
            var body = await refused.Content.ReadAsStringAsync();
            Assert.DoesNotContain("siloId", body, StringComparison.Ordinal);
            Assert.DoesNotContain("middleware_", body, StringComparison.Ordinal);
        }

        using var get = await http.GetAsync(path);
        Assert.Equal(System.Net.HttpStatusCode.OK, get.StatusCode);
    }

    [Fact]
    public async Task Ids_from_the_network_are_escaped_in_the_silo_log()
    {
        // A $move of a component nobody owns yet, to this silo: the silo logs "moved {Component} to {To}".
        var key = Unique("evil") + "\ninfo: forged entry\u001b[2J\u202e";
        await using (var connection = await fixture.Silo.ConnectAsync())
        {
            var reply = await connection.InvokeAsync(new InvokeMessage("Account", key, ProtocolConstants.Move, "$control:" + Guid.NewGuid().ToString("N"),
                null, null, Middleware.Protocol.Control.ControlCodec.Encode(new Middleware.Protocol.Control.MoveRequest(fixture.Silo.SiloId)), InvokeFlags.Control));
            Assert.True(reply.Status == ReplyStatus.Ok, reply.ToString());
        }

        await Eventually.TrueAsync(() => fixture.Silo.Stdout.Contains("forged entry", StringComparison.Ordinal), "the silo to log the move of the forged key");
        var stdout = fixture.Silo.Stdout;
        Assert.Contains("\\ninfo: forged entry\\x1b[2J\\u202e", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(stdout.Split('\n'), l => l.StartsWith("info: forged", StringComparison.Ordinal));
        Assert.DoesNotContain('\u001b', stdout);
        Assert.DoesNotContain('\u202e', stdout);
    }

    [Theory]
    [InlineData(ProtocolConstants.Move, "not json")]
    [InlineData(ProtocolConstants.Move, "[42]")]
    [InlineData(ProtocolConstants.Move, "{\"to\":1}")]
    [InlineData(ProtocolConstants.Move, "[]")]
    [InlineData(ProtocolConstants.Move, "")]
    [InlineData(ProtocolConstants.Quarantine, "[1,2,3]")]
    [InlineData(ProtocolConstants.Reset, "{\"by\":")]
    [InlineData(ProtocolConstants.SessionOpen, "[\"many\"]")]
    [InlineData(ProtocolConstants.SessionSet, "[\"k\", 5]")]
    public async Task A_malformed_control_operation_is_answered_BadRequest_by_a_real_silo_never_an_Error_JsonException(string operation, string args)
    {
        await using var connection = await fixture.Silo.ConnectAsync();
        var reply = await connection.InvokeAsync(new InvokeMessage("Account", Unique("ctl"), operation, "$control:" + Guid.NewGuid().ToString("N"),
            null, null, Encoding.UTF8.GetBytes(args), InvokeFlags.Control));
        Assert.True(reply.Status == ReplyStatus.BadRequest, $"{operation} {args}: {reply}");
        Assert.DoesNotContain("JsonException", reply.ToString(), StringComparison.Ordinal);
        Assert.StartsWith(operation + " expects", reply.Detail, StringComparison.Ordinal);
        Assert.True(connection.IsConnected);
    }

    [Theory]
    [InlineData("[5] x")]
    [InlineData("[5][6]")]
    [InlineData("[5]\u0000")]
    [InlineData("[5]{}")]
    public async Task Trailing_bytes_after_the_argument_array_are_answered_BadRequest_naming_them_not_ignored(string args)
    {
        var account = Unique("trail");
        await using var connection = await fixture.Silo.ConnectAsync();
        var reply = await connection.InvokeAsync(Call("Account", account, "Deposit", Unique("r"), args));
        Assert.True(reply.Status == ReplyStatus.BadRequest, $"{args}: {reply}");
        Assert.Contains("trailing byte(s) after the argument array", reply.Detail, StringComparison.Ordinal);
        // Nothing ran: the account is still empty, and white space after the array stays fine.
        Assert.Equal(0, Number(await connection.InvokeAsync(Call("Account", account, "Balance", Unique("r")))));
        Assert.Equal(5, Number(await connection.InvokeAsync(Call("Account", account, "Deposit", Unique("r"), "[5] \r\n"))));
    }

    [Fact]
    public async Task A_raw_request_frame_with_trailing_argument_bytes_gets_BadRequest_and_the_connection_stays_usable()
    {
        await using var peer = await Transport.RawPeer.ConnectAsync(fixture.Silo.Protocol);
        await peer.HandshakeAsync();
        await peer.SendAsync(FrameWriter.ToArray(7, Call("Account", Unique("raw"), "Deposit", Unique("r"), "[1]garbage")));
        var (correlation, message) = await peer.ReadFrameAsync() ?? throw new InvalidOperationException("the silo closed the connection");
        Assert.Equal(7UL, correlation);
        var reply = Assert.IsType<ReplyMessage>(message);
        Assert.Equal(ReplyStatus.BadRequest, reply.Status);
        Assert.Contains("7 trailing byte(s)", reply.Detail, StringComparison.Ordinal);

        await peer.SendAsync(FrameWriter.ToArray(8, Call("Account", Unique("raw"), "Deposit", Unique("r"), "[1]")));
        var next = await peer.ReadFrameAsync() ?? throw new InvalidOperationException("the silo closed the connection");
        Assert.Equal(ReplyStatus.Ok, Assert.IsType<ReplyMessage>(next.Message).Status);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[42]")]
    [InlineData("[\"silo\"] trailing")]
    public async Task A_malformed_move_from_a_raw_protocol_client_is_BadRequest_naming_the_form_and_the_connection_stays_usable(string args)
    {
        await using var peer = await Transport.RawPeer.ConnectAsync(fixture.Silo.Protocol);
        await peer.HandshakeAsync();
        var move = new InvokeMessage("Account", Unique("move"), ProtocolConstants.Move, "$control:" + Guid.NewGuid().ToString("N"), null, null,
            Encoding.UTF8.GetBytes(args), InvokeFlags.Control);
        await peer.SendAsync(FrameWriter.ToArray(11, move));
        var (correlation, message) = await peer.ReadFrameAsync() ?? throw new InvalidOperationException("the silo closed the connection");
        Assert.Equal(11UL, correlation);
        var reply = Assert.IsType<ReplyMessage>(message);
        Assert.True(reply.Status == ReplyStatus.BadRequest, reply.ToString());
        Assert.StartsWith("$move expects [siloId]", reply.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("JsonException", reply.ToString(), StringComparison.Ordinal);

        await peer.SendAsync(FrameWriter.ToArray(12, Deposit(Unique("after-move"), Unique("r"), 1)));
        var next = await peer.ReadFrameAsync() ?? throw new InvalidOperationException("the silo closed the connection");
        Assert.Equal(ReplyStatus.Ok, Assert.IsType<ReplyMessage>(next.Message).Status);
    }
}
