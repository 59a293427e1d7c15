using System.Net;
using System.Net.Sockets;
using System.Text;
using Bank;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;
using Middleware.Recovery.Runtime;
using Middleware.Tests.Support;
using Middleware.Transport;

namespace Middleware.Tests.Client;

/// <summary>The client SDK against a real transport and runtime: typed calls, error mapping, and retries with one request id.</summary>
public sealed class MiddlewareClientTests
{
    private static MiddlewareClientOptions Options(params string[] gateways) => new()
    {
        Gateways = gateways,
        ClientName = "client-tests",
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
        RetryMaxDelay = TimeSpan.FromMilliseconds(100),
        AttemptTimeout = TimeSpan.FromSeconds(10),
        RequestTimeout = TimeSpan.FromSeconds(30),
    };

    [Fact]
    public async Task A_typed_proxy_deposits_with_request_ids_of_the_client_session()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        await using var client = await MiddlewareClient.ConnectAsync(Options(silo.Address));

        var account = client.GetComponent<IAccount>("alice");
        Assert.Equal(10, await account.Deposit(10));
        Assert.Equal(35, await account.Deposit(25));
        Assert.Equal(35, await account.Balance());

        var ids = silo.Handler.Received.Select(m => m.RequestId).ToArray();
        Assert.Equal([$"{client.SessionId}:1", $"{client.SessionId}:2", $"{client.SessionId}:3"], ids);
        Assert.All(silo.Handler.Received, m => Assert.Equal(client.SessionId, m.SessionId));
    }

    [Fact]
    public async Task A_given_session_id_is_used_and_an_explicit_request_id_runs_once()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        var options = Options(silo.Address);
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = options.Gateways,
            SessionId = "session-7",
        });

        Assert.Equal("session-7:1", client.NextRequestId());
        var once = client.Call<IAccount>("bob", "payment-42");
        Assert.Equal(100, await once.Deposit(100));
        Assert.Equal(100, await once.Deposit(100));
        Assert.Equal(100, await client.GetComponent<IAccount>("bob").Balance());
    }

    [Fact]
    public async Task A_component_exception_arrives_as_its_own_type_and_is_not_retried()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        await using var client = await MiddlewareClient.ConnectAsync(Options(silo.Address));
        var account = client.GetComponent<IAccount>("carol");
        await account.Deposit(10);

        var e = await Assert.ThrowsAsync<InsufficientFundsException>(() => account.Withdraw(50));
        Assert.Contains("the balance is 10", e.Message);
        Assert.Equal(2, silo.Handler.Received.Count);
        Assert.Equal(10, await account.Balance());
    }

    [Fact]
    public async Task The_untyped_invoke_returns_the_durable_reply()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        await using var client = await MiddlewareClient.ConnectAsync(Options(silo.Address));

        var ok = await client.InvokeAsync(new ComponentId("Account", "dave"), "Deposit", "[7]"u8.ToArray());
        Assert.False(ok.IsError);
        Assert.Equal("7", Encoding.UTF8.GetString(ok.Result.Span));

        var error = await client.InvokeAsync(new ComponentId("Account", "dave"), "Withdraw", "[8]"u8.ToArray(), "withdraw-1");
        Assert.True(error.IsError);
        Assert.IsType<InsufficientFundsException>(ReplyDecoder.ToException(error));
    }

    [Fact]
    public async Task A_silo_killed_after_the_turn_but_before_the_reply_gets_the_same_request_id_again_and_the_deposit_applies_once()
    {
        var turnDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.AfterTurn = async (m, ct) =>
        {
            // The turn is durable; the reply is never sent: this instance is killed while it waits here.
            turnDone.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        var options = Options(silo.Address);
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = options.Gateways,
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
            RetryMaxDelay = TimeSpan.FromMilliseconds(200),
            MaxAttempts = 100,
        });
        var account = client.GetComponent<IAccount>("erin");

        var deposit = account.Deposit(40);
        await turnDone.Task;
        var firstId = Assert.Single(silo.Handler.Received).RequestId;
        await silo.RestartAsync();

        Assert.Equal(40, await deposit);
        var retried = Assert.Single(silo.Handler.Received);
        Assert.Equal(firstId, retried.RequestId);
        Assert.Equal(40, await account.Balance());
        Assert.True(client.Attempts >= 3);
    }

    [Fact]
    public async Task An_unavailable_reply_is_retried_with_the_same_request_id_until_it_succeeds()
    {
        var refusals = 0;
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.Before = (m, _) =>
            ValueTask.FromResult(Interlocked.Increment(ref refusals) <= 2 ? ReplyMessage.Unavailable("shutting down") : null));
        await using var client = await MiddlewareClient.ConnectAsync(Options(silo.Address));

        Assert.Equal(5, await client.GetComponent<IAccount>("frank").Deposit(5));
        var ids = silo.Handler.Received.Select(m => m.RequestId).Distinct().ToArray();
        Assert.Single(ids);
        Assert.Equal(3, silo.Handler.Received.Count);
    }

    [Fact]
    public async Task Unavailable_replies_past_the_attempt_limit_fail_with_the_request_id_to_retry()
    {
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.Before = (m, _) =>
            ValueTask.FromResult<ReplyMessage?>(ReplyMessage.Unavailable("store unreachable")));
        var options = Options(silo.Address);
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = options.Gateways,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            MaxAttempts = 3,
        });

        var e = await Assert.ThrowsAsync<ClusterUnavailableException>(() => client.GetComponent<IAccount>("gina").Deposit(5));
        Assert.Equal(3, e.Attempts);
        Assert.Contains("store unreachable", e.Message);
        Assert.All(silo.Handler.Received, m => Assert.Equal(e.RequestId, m.RequestId));
        Assert.Equal(3, silo.Handler.Received.Count);
    }

    [Fact]
    public async Task A_moved_reply_sends_the_same_request_to_the_named_silo()
    {
        await using var owner = await ClientTestSilo.StartAsync();
        await using var gateway = await ClientTestSilo.StartAsync(configure: h => h.Before = (m, _) =>
            ValueTask.FromResult<ReplyMessage?>(ReplyMessage.Moved(owner.Address)));
        await using var client = await MiddlewareClient.ConnectAsync(Options(gateway.Address));

        Assert.Equal(9, await client.GetComponent<IAccount>("hank").Deposit(9));
        var sent = Assert.Single(gateway.Handler.Received);
        var served = Assert.Single(owner.Handler.Received);
        Assert.Equal(sent.RequestId, served.RequestId);
    }

    [Fact]
    public async Task A_bad_request_is_not_retried_and_surfaces_as_an_argument_exception()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        await using var client = await MiddlewareClient.ConnectAsync(Options(silo.Address));

        var e = await Assert.ThrowsAsync<ArgumentException>(() => client.InvokeAsync(new ComponentId("Account", "ivy"), "Deposit", "[\"ten\"]"u8.ToArray()));
        Assert.Contains("could not be decoded", e.Message);
        Assert.Single(silo.Handler.Received);
    }

    [Fact]
    public async Task An_unknown_type_or_method_is_not_retried_and_names_both()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        await using var client = await MiddlewareClient.ConnectAsync(Options(silo.Address));

        var type = await Assert.ThrowsAsync<UnknownComponentException>(() => client.InvokeAsync(new ComponentId("Nope", "x"), "Deposit", "[1]"u8.ToArray()));
        Assert.Equal("Nope", type.ComponentType);
        Assert.Contains("Nope.Deposit", type.Message);
        var method = await Assert.ThrowsAsync<UnknownComponentException>(() => client.InvokeAsync(new ComponentId("Account", "x"), "Close", "[]"u8.ToArray()));
        Assert.Contains("Account.Close", method.Message);
        Assert.Equal(2, silo.Handler.Received.Count);
    }

    [Fact]
    public async Task A_wrong_client_key_fails_at_connect_naming_the_setting()
    {
        await using var silo = await ClientTestSilo.StartAsync(new TransportOptions { SiloId = "keyed", Keys = HandshakeKeys.Shared("right-key") });
        var options = Options(silo.Address);

        var e = await Assert.ThrowsAsync<ClientConnectException>(() => MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = options.Gateways,
            ClientKey = "wrong-key",
        }));
        Assert.Contains("ClientKey", e.Message);
        Assert.Contains("client key mismatch", e.Message);
        Assert.IsType<HandshakeRejectedException>(e.InnerException);

        var keyFile = Path.GetTempFileName();
        try
        {
            // The key from a file, as an editor writes it (a trailing line break), and the legacy shared key: both prove.
            await File.WriteAllTextAsync(keyFile, "right-key\n");
            await using var fromFile = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = options.Gateways, ClientKeyFile = keyFile });
            Assert.Equal(1, await fromFile.GetComponent<IAccount>("jo").Deposit(1));
            await using var shared = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = options.Gateways, ClusterKey = "right-key" });
            Assert.Equal(2, await shared.GetComponent<IAccount>("jo").Deposit(1));
        }
        finally
        {
            File.Delete(keyFile);
        }
    }

    [Fact]
    public async Task On_a_keyed_silo_a_session_is_resumed_only_with_its_token_and_the_store_keeps_only_its_hash()
    {
        await using var silo = await ClientTestSilo.StartAsync(new TransportOptions { SiloId = "keyed", Keys = new HandshakeKeys("client-k", "silo-k", "admin-k") });
        var gateways = Options(silo.Address).Gateways;
        string id, token;
        await using (var first = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = gateways, ClientKey = "client-k" }))
        {
            id = first.SessionId;
            token = first.SessionToken!;
            Assert.Equal(43, token.Length);
            Assert.Equal(5, await first.GetComponent<IAccount>("t").Deposit(5));
        }

        var stored = (await silo.Store.GetSessionAsync(id))!.TokenHash;
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token))), stored);
        Assert.DoesNotContain(token, stored);

        var wrong = await Assert.ThrowsAsync<ClientConnectException>(() => MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = gateways, ClientKey = "client-k", SessionId = id, SessionToken = "not-the-token",
        }));
        Assert.Contains("is not its token", wrong.Message);
        Assert.IsType<AccessDeniedException>(wrong.InnerException);
        var none = await Assert.ThrowsAsync<ClientConnectException>(() => MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = gateways, ClientKey = "client-k", SessionId = id,
        }));
        Assert.Contains("MiddlewareClientOptions.SessionToken", none.Message);
        Assert.Equal(1, (await silo.Store.GetSessionAsync(id))!.Opens);

        await using var resumed = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = gateways, ClientKey = "client-k", SessionId = id, SessionToken = token,
        });
        Assert.Equal(12, await resumed.GetComponent<IAccount>("t").Deposit(7));
        Assert.Equal(token, resumed.SessionToken);

        // A new connection (the silo restarted) is a new proof: the SDK proves the session on it before its next call.
        await silo.RestartAsync();
        Assert.Equal(13, await resumed.GetComponent<IAccount>("t").Deposit(1));
        await resumed.SetSessionItemAsync("cart", "3 items");
    }

    [Fact]
    public async Task Connect_skips_a_dead_gateway_and_fails_clearly_when_all_are_dead()
    {
        // A bound socket that does not listen: connecting to it is refused at once.
        using var dead = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        dead.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var deadAddress = $"127.0.0.1:{((IPEndPoint)dead.LocalEndPoint!).Port}";

        var e = await Assert.ThrowsAsync<ClientConnectException>(() => MiddlewareClient.ConnectAsync(Options(deadAddress)));
        Assert.Contains(deadAddress, e.Message);
        Assert.Contains("Gateways", e.Message);

        await using var silo = await ClientTestSilo.StartAsync();
        await using var client = await MiddlewareClient.ConnectAsync(Options(deadAddress, silo.Address));
        var account = client.GetComponent<IAccount>("kim");
        for (var i = 1; i <= 4; i++) Assert.Equal(i, await account.Deposit(1));
        Assert.Equal(4, silo.Handler.Received.Count);
    }

    [Fact]
    public async Task An_attempt_that_times_out_is_retried_with_the_same_request_id_then_fails_clearly()
    {
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.Before = async (m, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return null;
        });
        var options = Options(silo.Address);
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = options.Gateways,
            AttemptTimeout = TimeSpan.FromMilliseconds(100),
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            MaxAttempts = 2,
        });

        var e = await Assert.ThrowsAsync<ClusterUnavailableException>(() => client.GetComponent<IAccount>("lee").Deposit(1));
        Assert.Equal(2, e.Attempts);
        Assert.Contains("AttemptTimeout", e.Message);
        Assert.Equal(2, silo.Handler.Received.Count);
        Assert.All(silo.Handler.Received, m => Assert.Equal(e.RequestId, m.RequestId));
    }

    [Fact]
    public async Task A_typed_call_is_bounded_by_the_request_timeout()
    {
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.Before = async (m, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return null;
        });
        var options = Options(silo.Address);
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = options.Gateways,
            RequestTimeout = TimeSpan.FromMilliseconds(150),
        });

        var e = await Assert.ThrowsAsync<TimeoutException>(() => client.GetComponent<IAccount>("max").Deposit(1));
        Assert.Contains("RequestTimeout", e.Message);
    }

    [Fact]
    public async Task Cancellation_by_the_caller_stops_the_call()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.Before = async (m, ct) =>
        {
            received.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return null;
        });
        await using var client = await MiddlewareClient.ConnectAsync(Options(silo.Address));
        using var cts = new CancellationTokenSource();

        var call = client.InvokeAsync(new ComponentId("Account", "ned"), "Deposit", "[1]"u8.ToArray(), cancellationToken: cts.Token);
        await received.Task;
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Single(silo.Handler.Received);
    }

    public static TheoryData<string, MiddlewareClientOptions> BrokenOptions() => new()
    {
        { "Gateways", new MiddlewareClientOptions() },
        { "Gateways", new MiddlewareClientOptions { Gateways = ["localhost"] } },
        { "Gateways", new MiddlewareClientOptions { Gateways = ["localhost:99999"] } },
        { "MaxAttempts", new MiddlewareClientOptions { Gateways = ["localhost:1"], MaxAttempts = 0 } },
        { "AttemptTimeout", new MiddlewareClientOptions { Gateways = ["localhost:1"], AttemptTimeout = TimeSpan.Zero } },
        { "RetryMaxDelay", new MiddlewareClientOptions { Gateways = ["localhost:1"], RetryBaseDelay = TimeSpan.FromSeconds(2), RetryMaxDelay = TimeSpan.FromSeconds(1) } },
        { "SessionId", new MiddlewareClientOptions { Gateways = ["localhost:1"], SessionId = "a:b" } },
    };

    [Theory]
    [MemberData(nameof(BrokenOptions))]
    public async Task Invalid_options_fail_at_connect_naming_the_setting(string setting, MiddlewareClientOptions options)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => MiddlewareClient.ConnectAsync(options));
        Assert.Equal(setting, e.ParamName);
        Assert.Contains("MiddlewareClientOptions." + setting, e.Message);
    }

    [Fact]
    public async Task Proxies_need_the_component_interface_only()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [silo.Address] });
        Assert.Equal(3, await client.GetComponent<IAccount>("olga").Deposit(3));
        // The client never loaded the implementation: only the interface's assembly is referenced.
        Assert.DoesNotContain(typeof(MiddlewareClient).Assembly.GetReferencedAssemblies(), a => a.Name is "Middleware.Recovery" or "Bank");
    }
}
