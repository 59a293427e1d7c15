using System.IO.Pipelines;

namespace Middleware.Transport.Tls;

/// <summary>
/// The input of a connection on a listener without TLS: it looks at the first bytes once, and if they are a TLS
/// ClientHello it reports them through <paramref name="onTls"/> and ends the input, so the handshake code sees a peer
/// that left and closes quietly. After the first bytes it only passes reads through.
/// </summary>
internal sealed class SniffingPipeReader(PipeReader inner, Action onTls) : PipeReader
{
    private bool _decided;
    private bool _tripped;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
        _decided ? inner.ReadAsync(cancellationToken) : SniffAsync(cancellationToken);

    public override bool TryRead(out ReadResult result)
    {
        if (_tripped)
        {
            result = new ReadResult(default, false, true);
            return true;
        }

        if (!inner.TryRead(out result)) return false;
        if (!_decided) result = Inspect(result);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed)
    {
        if (!_tripped) inner.AdvanceTo(consumed);
    }

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (!_tripped) inner.AdvanceTo(consumed, examined);
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    private async ValueTask<ReadResult> SniffAsync(CancellationToken cancellationToken)
    {
        if (_tripped) return new ReadResult(default, false, true);
        return Inspect(await inner.ReadAsync(cancellationToken).ConfigureAwait(false));
    }

    private ReadResult Inspect(ReadResult result)
    {
        if (result.Buffer.Length < TlsSniffer.Length && !result.IsCompleted) return result;
        _decided = true;
        if (!TlsSniffer.LooksLikeClientHello(result.Buffer)) return result;
        _tripped = true;
        inner.AdvanceTo(result.Buffer.End);
        onTls();
        return new ReadResult(default, false, true);
    }
}
