using System.Text;
using Middleware.Protocol;
using Middleware.Protocol.Control;
using Middleware.Tests.Client;

namespace Middleware.Tests.Protocol;

/// <summary>The control operations' wire forms: what every side writes reads back, and anything else is refused by name.</summary>
public sealed class ControlCodecTests
{
    [Fact]
    public void Every_message_reads_back_as_written()
    {
        Assert.Equal(new SessionReserveRequest(250), ControlCodec.DecodeReserve(ControlCodec.Encode(new SessionReserveRequest(250)), "$session.open"));
        Assert.Equal(SessionReserveRequest.DefaultReserve, ControlCodec.DecodeReserve(ReadOnlyMemory<byte>.Empty, "$session.open").Reserve);
        Assert.Equal(new SessionBlock("s1", 1, 1000), ControlCodec.DecodeSessionBlock(ControlCodec.Encode(new SessionBlock("s1", 1, 1000)), "$session.open"));
        Assert.Equal(new SessionItemRequest("lang", null), ControlCodec.DecodeSessionItem(ControlCodec.Encode(new SessionItemRequest("lang", null)), "$session.set"));
        Assert.Equal(new MoveRequest("silo-2"), ControlCodec.DecodeMove(ControlCodec.Encode(new MoveRequest("silo-2")), "$move"));
        Assert.Equal(new MoveResult("silo-1", "silo-2", 7), ControlCodec.DecodeMoveResult(ControlCodec.Encode(new MoveResult("silo-1", "silo-2", 7)), "$move"));
        Assert.Equal([new SiloAddress("a", "h:1")], ControlCodec.DecodeSilos(ControlCodec.Encode([new SiloAddress("a", "h:1")]), "$cluster.silos"));
        // The wire forms clients and tools of the previous release send and read.
        Assert.Equal("[\"silo-2\"]", Encoding.UTF8.GetString(ControlCodec.Encode(new MoveRequest("silo-2"))));
        Assert.Equal("{\"sessionId\":\"s1\",\"first\":1,\"last\":1000}", Encoding.UTF8.GetString(ControlCodec.Encode(new SessionBlock("s1", 1, 1000))));
    }

    [Theory]
    [InlineData("$move", "{\"to\":\"silo-2\"}", "[siloId]")]
    [InlineData("$move", "[]", "0 value(s)")]
    [InlineData("$move", "[\"\"]", "non-empty string")]
    [InlineData("$move", "[42]", "non-empty string")]
    [InlineData("$move", "not json", "not JSON")]
    [InlineData("$session.open", "[\"many\"]", "whole number")]
    [InlineData("$session.set", "[\"k\"]", "[key, value]")]
    [InlineData("$session.set", "[\"k\", 5]", "neither a string nor null")]
    public void A_malformed_message_is_refused_naming_the_operation_and_the_form(string operation, string args, string expected)
    {
        var bytes = Encoding.UTF8.GetBytes(args);
        Action decode = operation switch
        {
            "$move" => () => ControlCodec.DecodeMove(bytes, operation),
            "$session.open" => () => ControlCodec.DecodeReserve(bytes, operation),
            _ => () => ControlCodec.DecodeSessionItem(bytes, operation),
        };
        var e = Assert.Throws<ControlMessageException>(decode);
        Assert.StartsWith(operation + " expects", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task A_silo_answers_a_malformed_move_with_bad_request_not_an_error()
    {
        await using var silo = await ClientTestSilo.StartAsync();
        await using var connection = await MiddlewareConnection.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, silo.Port), new ConnectionOptions { SenderId = "control-test" });
        var reply = await connection.InvokeAsync(new InvokeMessage("Account", "m", ProtocolConstants.Move, "$control:1", null, null, "{\"to\":1}"u8.ToArray(), InvokeFlags.Control));
        Assert.Equal(ReplyStatus.BadRequest, reply.Status);
        Assert.Contains("$move expects [siloId]", reply.Detail);
    }
}
