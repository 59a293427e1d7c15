namespace Middleware.Protocol;

/// <summary>A request waiting for its reply: it knows which reply type it expects and how to fail.</summary>
internal interface IPendingRequest
{
    /// <summary>The <see cref="ConnectionOptions.TimeProvider"/> timestamp after which the request times out; <c>long.MaxValue</c> for never.</summary>
    long Deadline { get; }

    /// <summary>The reply type this request accepts.</summary>
    MessageType ExpectedReply { get; }

    /// <summary>Completes the request with a decoded reply of the expected type.</summary>
    void Complete(ProtocolMessage reply);

    /// <summary>Fails the request; false if it had already completed.</summary>
    bool Fail(Exception error);

    /// <summary>Cancels the request for <paramref name="token"/>.</summary>
    void Cancel(CancellationToken token);
}

/// <summary>
/// A pending request is its own task source (one allocation), with the cancellation registration of the caller's
/// token. Continuations run asynchronously so user code never runs on the connection's reader loop.
/// </summary>
internal abstract class PendingRequest<T>(long deadline, MessageType expectedReply)
    : TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously), IPendingRequest
{
    private CancellationTokenRegistration _registration;

    public long Deadline { get; } = deadline;

    public MessageType ExpectedReply { get; } = expectedReply;

    public void Register(CancellationTokenRegistration registration) => _registration = registration;

    public void Complete(ProtocolMessage reply)
    {
        if (TrySetResult(Convert(reply))) _registration.Dispose();
    }

    public bool Fail(Exception error)
    {
        if (!TrySetException(error)) return false;
        _registration.Dispose();
        return true;
    }

    public void Cancel(CancellationToken token) => TrySetCanceled(token);

    protected abstract T Convert(ProtocolMessage reply);
}

internal sealed class PendingInvoke(long deadline) : PendingRequest<ReplyMessage>(deadline, MessageType.Reply)
{
    protected override ReplyMessage Convert(ProtocolMessage reply) => (ReplyMessage)reply;
}

internal sealed class PendingEcho(long deadline) : PendingRequest<ReadOnlyMemory<byte>>(deadline, MessageType.EchoReply)
{
    protected override ReadOnlyMemory<byte> Convert(ProtocolMessage reply) => ((EchoReplyMessage)reply).Payload;
}

internal sealed class PendingPing(long deadline) : PendingRequest<bool>(deadline, MessageType.Pong)
{
    protected override bool Convert(ProtocolMessage reply) => true;
}
