using System.Collections.Concurrent;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// What the transfer cuts of issue 18 copy, reuse or encode differently on the component-call path, checked where a
/// mistake would show: proxies copied from one prototype per interface keep their own target, delegate and ids; the
/// wait-for graph's reused waiter list keeps edges and cycles apart; a partial record encoded from the live context is
/// byte for byte the record the snapshot gave (so old and new silos write the same log).
/// </summary>
public sealed class CallPathReuseTests
{
    [Fact]
    public async Task Proxies_of_one_interface_keep_their_own_target_ids_and_delegate()
    {
        var seen = new ConcurrentQueue<Invocation>();
        Task<ComponentReply> Answer(Invocation inv, long value)
        {
            seen.Enqueue(inv);
            return Task.FromResult(new ComponentReply(System.Text.Encoding.UTF8.GetBytes(value.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }

        var n = 0;
        var a = ComponentProxy.Create<ICounter>(inv => Answer(inv, 1), "a", () => $"ida-{++n}", sessionId: "s1");
        var b = ComponentProxy.Create<ICounter>(inv => Answer(inv, 2), "b", () => "idb");
        Assert.NotSame(a, b);

        Assert.Equal(1, await a.Add(5));
        Assert.Equal(2, await b.Add(6));
        Assert.Equal(1, await a.Add(7));

        var calls = seen.ToArray();
        Assert.Equal(["Counter/a", "Counter/b", "Counter/a"], calls.Select(c => c.Target.ToString()));
        Assert.Equal(["ida-1", "idb", "ida-2"], calls.Select(c => c.RequestId));
        Assert.Equal(["s1", null, "s1"], calls.Select(c => c.SessionId));
        Assert.Equal(["[5]", "[6]", "[7]"], calls.Select(c => System.Text.Encoding.UTF8.GetString(c.Args.Span)));
    }

    [Fact]
    public void A_reused_waiter_list_keeps_edges_and_cycles_apart()
    {
        var graph = new WaitForGraph(_ => true, TimeProvider.System, CancellationToken.None, _ => true);
        for (var i = 0; i < 3; i++)
        {
            var first = graph.Add("T/a", $"T/a:{i}:1", "T/b", new ComponentId("T", "b"), null);
            graph.Remove(first); // its list is kept for the next waiter
            Assert.Equal(0, graph.Count);
            Assert.False(graph.IsWaiting("T/a"));
        }

        // The kept list now serves another waiter; the first waiter gets a new one. Both are counted, a cycle through
        // them is found and broken, and removing one leaves the other standing.
        var waitC = new CallWait();
        var waitD = new CallWait();
        var cd = graph.Add("T/c", "T/c:1:1", "T/d", new ComponentId("T", "d"), waitC);
        var ab = graph.Add("T/a", "T/a:9:1", "T/b", new ComponentId("T", "b"), null);
        Assert.Equal(2, graph.Count);
        Assert.True(graph.IsWaiting("T/c"));
        var dc = graph.Add("T/d", "T/d:1:1", "T/c", new ComponentId("T", "c"), waitD);
        Assert.True(waitD.Task.IsCompleted);
        Assert.False(waitC.Task.IsCompleted);
        graph.Remove(dc);
        graph.Remove(cd);
        Assert.Equal(1, graph.Count);
        Assert.True(graph.IsWaiting("T/a"));
        Assert.False(graph.IsWaiting("T/c"));
        graph.Remove(ab);
        Assert.Equal(0, graph.Count);
    }

    [Fact]
    public void A_partial_record_encoded_from_the_context_is_the_snapshots_record()
    {
        var context = new LiveTurnContext(new ComponentId("Teller", "t-ü"), "client-1:42", 7, TimeProvider.System, idText: "Teller/t-ü");
        _ = context.UtcNow;
        _ = context.NewGuid();
        context.TurnSeq = 7;
        context.AddOutbound(new OutboundCall(2, OutboundKind.Component, "Account/b", "Teller/t-ü:7:2", "Deposit", "[5]"u8.ToArray(), new ComponentReply("15"u8.ToArray())));
        context.AddOutbound(new OutboundCall(1, OutboundKind.Component, "Account/a", "Teller/t-ü:7:1", "Debit", "[5]"u8.ToArray(), new ComponentReply("95"u8.ToArray())));
        var inv = new Invocation(new ComponentId("Teller", "t-ü"), "client-1:42", "Transfer", "[\"a\",\"b\",5]"u8.ToArray(), "session-1", "Bank/x");

        var withRoom = context.EncodePartial(inv);
        var payload = withRoom.AsSpan(RecordChecksum.HeaderLength).ToArray();

        Assert.Equal(RecordCodec.EncodeTurn(context.Snapshot(inv, ComponentReply.Void, partial: true)), payload);
        var back = RecordCodec.DecodeTurn(payload);
        Assert.True(back.IsPartial);
        Assert.Equal(7, back.TurnSeq);
        Assert.Equal(2, back.Values.Count);
        Assert.Equal([1, 2], back.Outbound.Select(o => o.Ordinal));
        Assert.Equal("Bank/x", back.Caller);
    }
}
