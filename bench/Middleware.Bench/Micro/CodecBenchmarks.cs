using System.Text.Json;
using Bank;
using BenchmarkDotNet.Attributes;
using Middleware.Core;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;

namespace Middleware.Bench.Micro;

/// <summary>Encoding and decoding a typical deposit turn record, and encoding its arguments.</summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private TurnRecord _turn = null!;
    private byte[] _payload = [];
    private ComponentMethod _deposit = null!;
    private JsonSerializerOptions _json = null!;
    private readonly object?[] _args = [1L];

    [GlobalSetup]
    public void Setup()
    {
        var registry = BankComponents.Registry();
        _json = registry.Json;
        _deposit = registry.Get(typeof(IAccount)).Methods[nameof(IAccount.Deposit)];
        // What Deposit(1) logs: a client request id, the args, the UtcNow it read, and the new balance.
        _turn = new TurnRecord(
            "bench-3f2a9c1e-17-123456",
            null,
            null,
            nameof(IAccount.Deposit),
            _deposit.EncodeArgs(_args, _json),
            [new RecordedValue(NondeterminismKind.UtcNow, DateTime.UtcNow.Ticks)],
            new ComponentReply(_deposit.EncodeResult(4242L, _json)));
        _payload = RecordCodec.EncodeTurn(_turn);
    }

    [Benchmark]
    public byte[] EncodeTurn() => RecordCodec.EncodeTurn(_turn);

    [Benchmark]
    public TurnRecord DecodeTurn() => RecordCodec.DecodeTurn(_payload);

    [Benchmark]
    public byte[] EncodeArgs() => _deposit.EncodeArgs(_args, _json);

    [Benchmark]
    public object?[] DecodeArgs() => _deposit.DecodeArgs(_turn.Args.Span, _json);
}
