namespace Middleware.Protocol;

/// <summary>
/// Decodes frame payloads into messages. Never throws on network input: a payload that does not decode exactly (short,
/// bad varint, invalid UTF-8, unknown enum value, trailing bytes) yields a <see cref="ProtocolError"/>.
/// </summary>
public static class MessageCodec
{
    /// <summary>
    /// Decodes the message in <paramref name="frame"/>; the result owns copies of every byte it keeps.
    /// <paramref name="version"/> is the protocol version the connection speaks (it decides the Reply layout).
    /// </summary>
    public static bool TryDecode(in Frame frame, out ProtocolMessage? message, out ProtocolError? error, ushort version = ProtocolConstants.Version) =>
        TryDecode(frame, out message, out error, version, null);

    /// <summary>
    /// Decodes like <see cref="TryDecode(in Frame, out ProtocolMessage?, out ProtocolError?, ushort)"/>; an Invoke's
    /// component type, method and session id come from <paramref name="recent"/> (the connection's) when they repeat.
    /// </summary>
    public static bool TryDecode(in Frame frame, out ProtocolMessage? message, out ProtocolError? error, ushort version, RecentStrings? recent)
    {
        var reader = new PayloadReader(frame.Payload);
        message = frame.Type switch
        {
            MessageType.Hello => DecodeHello(ref reader),
            MessageType.HelloOk => DecodeHelloOk(ref reader),
            MessageType.HelloRejected => reader.TryReadString(out var reason) ? new HelloRejectedMessage(reason) : null,
            MessageType.HelloChallenge => reader.TryReadBytes(out var nonce) ? new HelloChallengeMessage(nonce) : null,
            MessageType.HelloProof => reader.TryReadBytes(out var proof) ? new HelloProofMessage(proof) : null,
            MessageType.Invoke => DecodeInvoke(ref reader, recent),
            MessageType.Reply => DecodeReply(ref reader, version),
            MessageType.Echo => reader.TryReadBytes(out var echo) ? new EchoMessage(echo) : null,
            MessageType.EchoReply => reader.TryReadBytes(out var echoReply) ? new EchoReplyMessage(echoReply) : null,
            MessageType.Ping => PingMessage.Instance,
            MessageType.Pong => PongMessage.Instance,
            _ => null,
        };
        if (message is not null && reader.End)
        {
            error = null;
            return true;
        }

        var what = message is null ? "does not decode" : $"has {reader.Remaining} unexpected trailing bytes";
        error = new ProtocolError(ProtocolErrorKind.MalformedPayload, $"the {frame.Type} payload of {frame.Payload.Length} bytes {what}");
        message = null;
        return false;
    }

    /// <summary>
    /// Reads only the magic and version of a Hello, so a server can refuse a peer of another version by naming both
    /// versions even if the rest of that version's Hello differs. False when the magic is absent.
    /// </summary>
    public static bool TryPeekHelloVersion(in Frame frame, out ushort version)
    {
        version = 0;
        var reader = new PayloadReader(frame.Payload);
        Span<byte> magic = stackalloc byte[3];
        return reader.TryReadExact(magic) && magic.SequenceEqual(ProtocolConstants.Magic) && reader.TryReadUInt16(out version);
    }

    private static HelloMessage? DecodeHello(ref PayloadReader reader)
    {
        Span<byte> magic = stackalloc byte[3];
        if (!reader.TryReadExact(magic) || !magic.SequenceEqual(ProtocolConstants.Magic)) return null;
        if (!reader.TryReadUInt16(out var version) || !reader.TryReadByte(out var role) || !reader.TryReadString(out var sender)) return null;
        // The layout after the sender id is the sender's version's: a nonce from version 3 on, an optional clear key before.
        if (version >= ProtocolConstants.ChallengeVersion)
        {
            if ((PeerRole)role is not (PeerRole.Client or PeerRole.Silo or PeerRole.Admin)) return null;
            return reader.TryReadBytes(out var nonce) ? new HelloMessage(version, (PeerRole)role, sender, nonce) : null;
        }

        if ((PeerRole)role is not (PeerRole.Client or PeerRole.Silo)) return null;
        return reader.TryReadOptionalString(out var clusterKey) ? HelloMessage.Legacy(version, (PeerRole)role, sender, clusterKey) : null;
    }

    private static HelloOkMessage? DecodeHelloOk(ref PayloadReader reader)
    {
        if (!reader.TryReadUInt16(out var version) || !reader.TryReadString(out var silo) || !reader.TryReadUInt32(out var max) || max > int.MaxValue) return null;
        if (version < ProtocolConstants.ChallengeVersion) return new HelloOkMessage(version, silo, (int)max);
        return reader.TryReadVarUInt32(out var flags) && reader.TryReadBytes(out var proof) ? new HelloOkMessage(version, silo, (int)max, (HelloFlags)flags, proof) : null;
    }

    private static InvokeMessage? DecodeInvoke(ref PayloadReader reader, RecentStrings? recent)
    {
        if (!reader.TryReadString(out var type, recent, RecentStrings.TypeField) || !reader.TryReadString(out var key)
            || !reader.TryReadString(out var method, recent, RecentStrings.MethodField)
            || !reader.TryReadString(out var requestId) || !reader.TryReadOptionalString(out var session, recent, RecentStrings.SessionField)
            || !reader.TryReadOptionalString(out var caller) || !reader.TryReadBytes(out var args) || !reader.TryReadVarUInt32(out var flags))
        {
            return null;
        }

        // Version 4: a trace context after the flags, only when the TraceContext flag says so.
        if (((InvokeFlags)flags & InvokeFlags.TraceContext) == 0) return new InvokeMessage(type, key, method, requestId, session, caller, args, (InvokeFlags)flags);
        if (!reader.TryReadString(out var traceParent) || !reader.TryReadOptionalString(out var traceState)) return null;
        return new InvokeMessage(type, key, method, requestId, session, caller, args, (InvokeFlags)flags & ~InvokeFlags.TraceContext) { TraceParent = traceParent, TraceState = traceState };
    }

    private static ReplyMessage? DecodeReply(ref PayloadReader reader, ushort version)
    {
        if (!reader.TryReadByte(out var status)) return null;
        switch ((ReplyStatus)status)
        {
            case ReplyStatus.Ok:
                return reader.TryReadBytes(out var result) ? ReplyMessage.Ok(result) : null;
            case ReplyStatus.Error:
                if (!reader.TryReadString(out var type) || !reader.TryReadString(out var text)) return null;
                // Version 2 adds the error data (empty for none); version 1 ends here.
                byte[] data = [];
                if (version >= 2 && !reader.TryReadBytes(out data)) return null;
                return ReplyMessage.Error(type, text, data).ForVersion(version);
            case ReplyStatus.Moved or ReplyStatus.Unavailable or ReplyStatus.BadRequest or ReplyStatus.NotFound:
                if (!reader.TryReadString(out var detail)) return null;
                // Version 2 adds a condition to BadRequest and NotFound (0 for none).
                var condition = 0u;
                if (version >= 2 && (ReplyStatus)status is ReplyStatus.BadRequest or ReplyStatus.NotFound && !reader.TryReadVarUInt32(out condition)) return null;
                return ((ReplyStatus)status switch
                {
                    ReplyStatus.Moved => ReplyMessage.Moved(detail),
                    ReplyStatus.Unavailable => ReplyMessage.Unavailable(detail),
                    ReplyStatus.BadRequest => ReplyMessage.BadRequest(detail, (ReplyCondition)condition),
                    _ => ReplyMessage.NotFound(detail, (ReplyCondition)condition),
                }).ForVersion(version);
            default:
                return null;
        }
    }
}
