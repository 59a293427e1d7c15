using System.Text;
using Middleware.Core;
using Middleware.Recovery.Log;

namespace Middleware.Tests.Runtime;

/// <summary>Recorded error replies with exception data (reply tag 2), and the records written before it.</summary>
public sealed class ReplyRecordFormatTests
{
    private static readonly ComponentReply WithData =
        new(ReadOnlyMemory<byte>.Empty, "Bank.OverdraftException", "no") { ErrorData = """{"Balance":10}"""u8.ToArray() };

    [Fact]
    public void An_error_with_data_round_trips_in_turn_records_outbound_outcomes_and_dedup_replies()
    {
        var turn = new TurnRecord("r", null, null, "Withdraw", "[50]"u8.ToArray(), [], WithData)
        {
            TurnSeq = 4,
            Outbound = [new OutboundCall(1, OutboundKind.Component, "Vault/v", "X/x:4:1", "Withdraw", "[5]"u8.ToArray(), WithData)],
        };
        var back = RecordCodec.DecodeTurn(RecordCodec.EncodeTurn(turn));
        foreach (var reply in new[] { back.Reply, back.Outbound[0].Outcome, RecordCodec.DecodeReply(RecordCodec.EncodeReply(WithData)) })
        {
            Assert.Equal(("Bank.OverdraftException", "no", """{"Balance":10}"""), (reply.ErrorType, reply.ErrorMessage, Encoding.UTF8.GetString(reply.ErrorData.Span)));
            Assert.True(reply.SameAs(WithData));
        }
    }

    [Fact]
    public void An_error_without_data_is_written_exactly_as_before_and_old_error_records_still_decode()
    {
        // Reply format 1 as the first release wrote it: version 1, tag 1, type, message.
        byte[] old = [1, 1, 1, (byte)'T', 2, (byte)'n', (byte)'o'];
        Assert.Equal(old, RecordCodec.EncodeReply(new ComponentReply(ReadOnlyMemory<byte>.Empty, "T", "no")));
        var decoded = RecordCodec.DecodeReply(old);
        Assert.Equal(("T", "no", 0), (decoded.ErrorType, decoded.ErrorMessage, decoded.ErrorData.Length));

        // The tag of an error with data follows; a build that predates it refused "Unknown reply tag 2", and one that
        // meets a newer tag says to upgrade.
        Assert.Equal(2, RecordCodec.EncodeReply(WithData)[1]);
        var e = Assert.Throws<InvalidDataException>(() => RecordCodec.DecodeReply(new byte[] { 1, 9 }));
        Assert.Contains("upgrade", e.Message);
    }
}
