namespace Middleware.Recovery.Runtime;

/// <summary>What the activation collector reads: when the activation last served a request, and whether one is in flight.</summary>
internal sealed partial class Activation
{
    private long _lastUsedTicks;
    private int _inFlight;
    // Turns whose reply waits for its record to be durable: a request the runtime handed that wait to (LocalRuntime's
    // live path leaves at once) is still busy until it ends.
    private int _awaitingDurable;

    /// <summary>The generation of the collector's recency-list bucket this activation was last placed in (<see cref="ActivationLru"/>).</summary>
    internal int LruGeneration;

    /// <summary>When a request last entered (UTC ticks of the runtime's clock); its creation time until then.</summary>
    public long LastUsedTicks => Volatile.Read(ref _lastUsedTicks);

    /// <summary>True while no request is inside the activation (the collector leaves busy activations alone).</summary>
    public bool IsIdle => Volatile.Read(ref _inFlight) == 0 && Volatile.Read(ref _awaitingDurable) == 0;

    /// <summary>A request enters (the runtime calls <see cref="Leave"/> when it is answered).</summary>
    public void Enter(TimeProvider time)
    {
        Interlocked.Increment(ref _inFlight);
        Volatile.Write(ref _lastUsedTicks, time.GetUtcNow().UtcTicks);
    }

    /// <summary>A request that <see cref="Enter"/>ed was answered (or failed).</summary>
    public void Leave() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Sets the idle clock's start when the activation is created.</summary>
    private void StampCreated(TimeProvider time) => _lastUsedTicks = time.GetUtcNow().UtcTicks;
}
