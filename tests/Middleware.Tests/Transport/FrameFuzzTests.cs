using System.Buffers;
using System.Buffers.Binary;
using Middleware.Protocol;

namespace Middleware.Tests.Transport;

/// <summary>
/// Bad input from the network must end in a protocol error or "need more data", never an exception, a hang or an
/// allocation sized by a length field. Seeds are fixed so a failure reproduces.
/// </summary>
public sealed class FrameFuzzTests
{
    private const int MaxFrame = 64 * 1024;

    [Fact]
    public void Random_bytes_never_throw_and_always_make_progress_or_stop()
    {
        var random = new Random(20261122);
        for (var round = 0; round < 20_000; round++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            // Half the rounds get a plausible header so the payload decoders see random bodies too.
            if (round % 2 == 0 && bytes.Length >= ProtocolConstants.HeaderSize)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)(bytes.Length - 4));
                bytes[4] = (byte)KnownTypes[random.Next(KnownTypes.Length)];
            }

            ParseAll(SegmentedSequence.Split(bytes, random.Next(1, 40)));
        }
    }

    [Fact]
    public void Every_truncation_of_every_message_is_need_more_data_or_a_malformed_payload()
    {
        foreach (var message in FrameCodecTests.AllMessages().Values)
        {
            var bytes = FrameWriter.ToArray(5, message);
            for (var cut = 0; cut < Math.Min(bytes.Length, 400); cut++)
            {
                // The stream ends early: the parser waits for more and the end-of-stream check reports truncation.
                var partial = new ReadOnlySequence<byte>(bytes, 0, cut);
                Assert.Equal(FrameParseStatus.NeedMoreData, FrameParser.TryRead(ref partial, ProtocolConstants.MaxMaxFrameSize, out _, out _));
                Assert.Equal(cut == 0, FrameParser.AtEndOfStream(partial) is null);

                // The frame claims a shorter payload than its fields need: a malformed payload, not a crash.
                var payloadCut = Math.Min(cut, bytes.Length - ProtocolConstants.HeaderSize);
                if (payloadCut < bytes.Length - ProtocolConstants.HeaderSize)
                {
                    var frame = new Frame(message.Type, 5, new ReadOnlySequence<byte>(bytes, ProtocolConstants.HeaderSize, payloadCut));
                    Assert.False(MessageCodec.TryDecode(frame, out _, out var error));
                    Assert.Equal(ProtocolErrorKind.MalformedPayload, error!.Kind);
                }
            }
        }
    }

    [Fact]
    public void Huge_declared_field_lengths_are_refused_without_allocating_them()
    {
        // An Echo whose byte-array length says 4 GiB - 1 inside a 20-byte payload.
        var payload = new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3 };
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            Assert.False(MessageCodec.TryDecode(new Frame(MessageType.Echo, 1, new ReadOnlySequence<byte>(payload)), out _, out _));
            Assert.False(MessageCodec.TryDecode(new Frame(MessageType.Invoke, 1, new ReadOnlySequence<byte>(payload)), out _, out _));
        }

        // Error records and their messages only: far below one 4 GiB (or even 1 MiB) buffer.
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1024 * 1024);
    }

    [Fact]
    public void Bit_flips_in_valid_frames_never_throw()
    {
        var random = new Random(7);
        foreach (var message in FrameCodecTests.AllMessages().Values)
        {
            var valid = FrameWriter.ToArray(9, message);
            for (var round = 0; round < 300; round++)
            {
                var bytes = (byte[])valid.Clone();
                var flips = random.Next(1, 4);
                for (var f = 0; f < flips; f++) bytes[random.Next(Math.Min(bytes.Length, 600))] ^= (byte)(1 << random.Next(8));
                ParseAll(SegmentedSequence.Split(bytes, random.Next(1, 64)));
            }
        }
    }

    private static readonly MessageType[] KnownTypes = Enum.GetValues<MessageType>();

    /// <summary>Parses frames until the buffer is used up, more data is needed, or an error; decodes each frame.</summary>
    private static void ParseAll(ReadOnlySequence<byte> buffer)
    {
        for (var guard = 0; guard < 1000; guard++)
        {
            var length = buffer.Length;
            var status = FrameParser.TryRead(ref buffer, MaxFrame, out var frame, out var error);
            switch (status)
            {
                case FrameParseStatus.NeedMoreData:
                    Assert.Equal(length, buffer.Length);
                    return;
                case FrameParseStatus.Error:
                    Assert.NotNull(error);
                    return;
                default:
                    Assert.True(buffer.Length < length, "a parsed frame must consume bytes");
                    if (!MessageCodec.TryDecode(frame, out var message, out error)) Assert.Equal(ProtocolErrorKind.MalformedPayload, error!.Kind);
                    else Assert.NotNull(message);
                    _ = new ServerHandshake(HandshakeKeys.Shared("key"), "s", MaxFrame).Receive(frame);
                    break;
            }
        }

        Assert.Fail("the parser did not stop");
    }
}
