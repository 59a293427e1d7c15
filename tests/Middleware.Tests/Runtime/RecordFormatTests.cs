using System.Text;
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
            TurnReply.Void)
        {
            TurnSeq = 7,
            IsPartial = true,
            Outbound = [new OutboundCall(1, OutboundKind.Backend, "ledger", "Account/a:7:1", "post", "{}"u8.ToArray(), new TurnReply(ReadOnlyMemory<byte>.Empty, "X", "no"))],
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
}
