using Middleware.Grains;

namespace Middleware.Tests.Support;

public interface ICounter : IRecoverableComponent
{
    Task<long> Add(long amount);

    /// <summary>Changes the state, then throws: the change must be undone.</summary>
    Task<long> AddThenFail(long amount);

    Task<string> Stamp();

    [ReadOnlyTurn]
    Task<long> Get();

    Task Reset();
}

public sealed class CounterState
{
    public long Value { get; set; }

    public List<string> Stamps { get; set; } = [];
}

public sealed class Counter : RecoverableGrain<CounterState>, ICounter
{
    public Task<long> Add(long amount)
    {
        State.Value += amount;
        return Task.FromResult(State.Value);
    }

    public Task<long> AddThenFail(long amount)
    {
        State.Value += amount;
        State.Stamps.Add("should be undone");
        throw new InvalidOperationException($"refused {amount}");
    }

    public async Task<string> Stamp()
    {
        // Every kind of recorded nondeterminism, with a real await in between.
        var stamp = $"{Context.UtcNow:O}|{Context.NewGuid()}|{Context.Random.Next(1000)}";
        await Task.Yield();
        State.Stamps.Add(stamp);
        return stamp;
    }

    public Task<long> Get() => Task.FromResult(State.Value);

    public Task Reset()
    {
        State.Value = 0;
        return Task.CompletedTask;
    }
}

/// <summary>Deliberately nondeterministic: reads the clock and Guid.NewGuid directly, bypassing the context.</summary>
public interface IWallClock : IRecoverableComponent
{
    Task<string> Now();
}

public sealed class WallClockState
{
    public int Calls { get; set; }
}

public sealed class WallClock : RecoverableGrain<WallClockState>, IWallClock
{
    public Task<string> Now()
    {
        State.Calls++;
        return Task.FromResult($"{DateTime.UtcNow:O} {Guid.NewGuid()}");
    }
}

public interface IBadReturn : IRecoverableComponent
{
    int NotAsync();
}

public sealed class BadReturn : RecoverableGrain<CounterState>, IBadReturn
{
    public int NotAsync() => 0;
}

public interface IOverloaded : IRecoverableComponent
{
    Task A(int x);

    Task A(string x);
}

public sealed class Overloaded : RecoverableGrain<CounterState>, IOverloaded
{
    public Task A(int x) => Task.CompletedTask;

    public Task A(string x) => Task.CompletedTask;
}

public sealed class UnserializableState
{
    public IntPtr Handle { get; set; }

    public Action? Callback { get; set; }
}

public interface IBadState : IRecoverableComponent
{
    Task Go();
}

public sealed class BadState : RecoverableGrain<UnserializableState>, IBadState
{
    public Task Go() => Task.CompletedTask;
}
