using System.Collections.Concurrent;
using Bank;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>A component that calls other components: counters, other relays, itself.</summary>
public interface IRelay : IRecoverableComponent
{
    /// <summary>Adds to a counter through a component call; returns the counter's reply.</summary>
    Task<long> AddTo(string counter, long amount);

    /// <summary>Calls a counter method that throws, catches the error and returns its type and message.</summary>
    Task<string> CatchFailure(string counter, long amount);

    /// <summary>Adds to one counter, then to another; on any failure of the second, takes the first back (a compensation).</summary>
    Task<long> AddBothOrCompensate(string first, string second, long amount);

    /// <summary>Takes a time stamp (nondeterminism), calls a counter, then takes another stamp; returns the counter's reply.</summary>
    Task<long> StampAroundCall(string counter, long amount);

    /// <summary>Calls itself: a direct cycle.</summary>
    Task<long> CallSelf();

    /// <summary>Calls relay <paramref name="other"/>, which calls back: an indirect cycle.</summary>
    Task<long> Bounce(string other);

    /// <summary>Like <see cref="Bounce"/>, but catches the cycle and returns its message.</summary>
    Task<string> BounceAndCatch(string other);

    /// <summary>Calls <see cref="Ping"/> on relay <paramref name="back"/>.</summary>
    Task<long> BounceBack(string back);

    Task<long> Ping();

    /// <summary>Reads a session item and keeps it in the state; returns it ("(null)" for null).</summary>
    Task<string> RememberItem(string key);

    [ReadOnlyTurn]
    Task<RelayState> Read();

    /// <summary>A read-only turn reading a counter through a read-only call.</summary>
    [ReadOnlyTurn]
    Task<long> PeekCounter(string counter);

    /// <summary>A read-only turn trying a call that changes state: refused.</summary>
    [ReadOnlyTurn]
    Task<long> AddFromReadOnly(string counter);
}

public sealed class RelayState
{
    public long Calls { get; set; }

    public List<string> Seen { get; set; } = [];
}

public sealed class Relay : RecoverableGrain<RelayState>, IRelay
{
    public async Task<long> AddTo(string counter, long amount)
    {
        var reply = await Context.Call<ICounter>(counter).Add(amount);
        State.Calls++;
        return reply;
    }

    public async Task<long> AddBothOrCompensate(string first, string second, long amount)
    {
        await Context.Call<ICounter>(first).Add(amount);
        try
        {
            return await Context.Call<ICounter>(second).Add(amount);
        }
        catch (Exception)
        {
            await Context.Call<ICounter>(first).Add(-amount); // written the way people write it: catches everything
            throw;
        }
    }

    public async Task<string> CatchFailure(string counter, long amount)
    {
        try
        {
            await Context.Call<ICounter>(counter).AddThenFail(amount);
            return "no error";
        }
        catch (InvalidOperationException e)
        {
            State.Seen.Add(e.Message);
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    public async Task<long> StampAroundCall(string counter, long amount)
    {
        State.Seen.Add(Context.UtcNow.Ticks.ToString());
        var reply = await Context.Call<ICounter>(counter).Add(amount);
        State.Seen.Add(Context.NewGuid().ToString());
        State.Calls++;
        return reply;
    }

    public Task<long> CallSelf() => Context.Call<IRelay>(Context.Id.Key).Ping();

    public Task<long> Bounce(string other) => Context.Call<IRelay>(other).BounceBack(Context.Id.Key);

    public async Task<string> BounceAndCatch(string other)
    {
        try
        {
            await Context.Call<IRelay>(other).BounceBack(Context.Id.Key);
            return "no cycle";
        }
        catch (CallCycleException e)
        {
            State.Seen.Add(e.Message);
            return e.Message;
        }
    }

    public Task<long> BounceBack(string back) => Context.Call<IRelay>(back).Ping();

    public Task<long> Ping() => Task.FromResult(++State.Calls);

    public async Task<string> RememberItem(string key)
    {
        var item = await Context.GetSessionItemAsync(key) ?? "(null)";
        State.Seen.Add(item);
        return item;
    }

    public Task<RelayState> Read() => Task.FromResult(State);

    public Task<long> PeekCounter(string counter) => Context.Call<ICounter>(counter).Get();

    public Task<long> AddFromReadOnly(string counter) => Context.Call<ICounter>(counter).Add(1);
}

/// <summary>Changed code: adds one more than asked, so its calls differ from the recorded ones.</summary>
public sealed class RelayAddingOne : RecoverableGrain<RelayState>, IRelay
{
    public async Task<long> AddTo(string counter, long amount)
    {
        var reply = await Context.Call<ICounter>(counter).Add(amount + 1);
        State.Calls++;
        return reply;
    }

    public Task<string> CatchFailure(string counter, long amount) => throw new NotSupportedException();

    public Task<long> AddBothOrCompensate(string first, string second, long amount) => throw new NotSupportedException();

    public Task<long> StampAroundCall(string counter, long amount) => throw new NotSupportedException();

    public Task<long> CallSelf() => throw new NotSupportedException();

    public Task<long> Bounce(string other) => throw new NotSupportedException();

    public Task<string> BounceAndCatch(string other) => throw new NotSupportedException();

    public Task<long> BounceBack(string back) => throw new NotSupportedException();

    public Task<long> Ping() => throw new NotSupportedException();

    public Task<string> RememberItem(string key) => throw new NotSupportedException();

    public Task<RelayState> Read() => Task.FromResult(State);

    public Task<long> PeekCounter(string counter) => throw new NotSupportedException();

    public Task<long> AddFromReadOnly(string counter) => throw new NotSupportedException();
}

/// <summary>
/// An <see cref="IComponentCaller"/> in front of a runtime: counts and records the calls, can hold them at a gate,
/// and can fail after the callee ran (a lost reply), like a transport that dropped the connection.
/// </summary>
public sealed class RecordingCaller : IComponentCaller
{
    private int _failAfterCallee;

    public LocalRuntime? Runtime { get; set; }

    public ConcurrentQueue<Invocation> Calls { get; } = new();

    /// <summary>When set, every call waits for it before it is delivered.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Set when a call is waiting at the gate.</summary>
    public TaskCompletionSource AtGate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The next <paramref name="count"/> calls run on the callee, then throw as if the reply was lost.</summary>
    public void FailAfterCallee(int count) => _failAfterCallee = count;

    /// <summary>Calls to <paramref name="target"/> run on the callee, then throw as if the reply was lost, <paramref name="count"/> times.</summary>
    public void FailAfterCallee(ComponentId target, int count) => (_failTarget, _failAfterCallee) = (target, count);

    private ComponentId? _failTarget;

    public int Count(string? method = null) => Calls.Count(c => method is null || c.Method == method);

    public async Task<ComponentReply> InvokeAsync(Invocation invocation, CancellationToken cancellationToken)
    {
        Calls.Enqueue(invocation);
        if (Gate is { } gate)
        {
            AtGate.TrySetResult();
            await gate.Task.ConfigureAwait(false);
        }

        var reply = await (Runtime ?? throw new InvalidOperationException("no runtime")).InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
        if ((_failTarget is null || _failTarget == invocation.Target) && Interlocked.Decrement(ref _failAfterCallee) >= 0)
            throw new IOException($"connection lost after {invocation.Target} ran {invocation.RequestId}");
        return reply;
    }
}

public static class CallRegistries
{
    public static ComponentRegistry Default() => new ComponentRegistry()
        .Add<ICounter, Counter>()
        .Add<IRelay, Relay>()
        .Add<IAccount, Account>()
        .Add<ITeller, Teller>();
}
