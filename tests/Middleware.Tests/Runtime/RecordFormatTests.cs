using System.Text;
using Middleware.Core;
using Middleware.Recovery.Log;

namespace Middleware.Tests.Runtime;

public sealed class RecordFormatTests
{
    [Fact]
    public void A_version_1_turn_record_written_by_the_first_release_still_decodes()
    {
        // Fixtures/turn-record-v1.bin holds a deposit turn in format version 1 (no flags, no turn seq, no outbound calls).
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "turn-record-v1.bin"));
        Assert.Equal(1, bytes[0]);
        var turn = RecordCodec.DecodeTurn(bytes);
        Assert.Equal("demo-17", turn.RequestId);
        Assert.Equal("session-a", turn.SessionId);
        Assert.Null(turn.Caller);
        Assert.Equal("Deposit", turn.Method);
        Assert.Equal("[250]", Encoding.UTF8.GetString(turn.Args.Span));
        Assert.Equal(new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks, Assert.Single(turn.Values).Value);
        Assert.Equal("1250", turn.Reply.ToString());
        Assert.False(turn.IsPartial);
        Assert.Empty(turn.Outbound);
    }

    [Fact]
    public void Version_2_round_trips_partial_records_outbound_calls_and_backend_reads()
    {
        var turn = new TurnRecord("r", null, "Caller/x", "Withdraw", "[5]"u8.ToArray(),
            [new RecordedValue(NondeterminismKind.BackendRead, 0, default, "42"u8.ToArray()), new RecordedValue(NondeterminismKind.Guid, 0, Guid.Parse("2f1e3d4c-0000-0000-0000-000000000001"))],
            ComponentReply.Void)
        {
            TurnSeq = 7,
            IsPartial = true,
            Outbound = [new OutboundCall(1, OutboundKind.Backend, "ledger", "Account/a:7:1", "post", "{}"u8.ToArray(), new ComponentReply(ReadOnlyMemory<byte>.Empty, "X", "no"))],
        };
        var back = RecordCodec.DecodeTurn(RecordCodec.EncodeTurn(turn));
        Assert.True(back.IsPartial);
        Assert.Equal(7, back.TurnSeq);
        Assert.Equal("Caller/x", back.Caller);
        Assert.Equal("42", Encoding.UTF8.GetString(back.Values[0].Bytes.Span));
        Assert.Equal(turn.Values[1].GuidValue, back.Values[1].GuidValue);
        var call = Assert.Single(back.Outbound);
        Assert.Equal(("ledger", "Account/a:7:1", "post", "X", "no"), (call.Target, call.RequestId, call.Operation, call.Outcome.ErrorType, call.Outcome.ErrorMessage));
    }

    [Fact]
    public void An_unknown_format_version_is_refused_with_the_version_named()
    {
        var e = Assert.Throws<InvalidDataException>(() => RecordCodec.DecodeTurn(new byte[] { 9, 0, 0 }));
        Assert.Contains("version 9", e.Message);
        Assert.Contains("upgrade", e.Message);
    }

    [Fact]
    public void Session_items_component_calls_and_call_chains_round_trip()
    {
        var turn = new TurnRecord("r", "s1", "Teller/1|Account/a\\|b", "Transfer", "[]"u8.ToArray(),
            [new RecordedValue(NondeterminismKind.SessionItem, 1, default, "fr"u8.ToArray()), new RecordedValue(NondeterminismKind.SessionItem, 0)],
            new ComponentReply("1"u8.ToArray()))
        {
            TurnSeq = 3,
            Outbound =
            [
                new OutboundCall(1, OutboundKind.Component, "Account/a", "Teller/1:3:1", "Debit", "[5]"u8.ToArray(), new ComponentReply("95"u8.ToArray())),
                new OutboundCall(2, OutboundKind.Backend, "ledger", "Teller/1:3:2", "post", "{}"u8.ToArray(), ComponentReply.Void),
            ],
        };
        var back = RecordCodec.DecodeTurn(RecordCodec.EncodeTurn(turn));
        Assert.Equal(turn.Caller, back.Caller);
        Assert.Equal((NondeterminismKind.SessionItem, 1L, "fr"), (back.Values[0].Kind, back.Values[0].Value, Encoding.UTF8.GetString(back.Values[0].Bytes.Span)));
        Assert.Equal((NondeterminismKind.SessionItem, 0L, 0), (back.Values[1].Kind, back.Values[1].Value, back.Values[1].Bytes.Length));
        Assert.Equal([OutboundKind.Component, OutboundKind.Backend], back.Outbound.Select(c => c.Kind));
        Assert.Equal(("Account/a", "Teller/1:3:1", "Debit", "95"), (back.Outbound[0].Target, back.Outbound[0].RequestId, back.Outbound[0].Operation, back.Outbound[0].Outcome.ToString()));
        Assert.Equal("1", back.Reply.ToString());
    }

    [Fact]
    public void Fence_records_round_trip_and_an_unknown_version_is_refused()
    {
        var bytes = RecordCodec.EncodeFence(new FenceRecord("sess:17"));
        Assert.Equal(RecordCodec.FenceFormatVersion, bytes[0]);
        Assert.Equal("sess:17", RecordCodec.DecodeFence(bytes).RequestId);
        bytes[0] = 7;
        var e = Assert.Throws<InvalidDataException>(() => RecordCodec.DecodeFence(bytes));
        Assert.Contains("Fence record format version 7", e.Message);
    }
}
