using System.Net;
using Microsoft.Extensions.Logging;
using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>Limits of <see cref="HandshakeThrottle"/>; <see cref="Validate"/> names the setting at fault.</summary>
public sealed record HandshakeThrottleOptions
{
    /// <summary>Failed handshakes one address may have within <see cref="Window"/> before it is locked out (default 5): a client with a typo gets its error at once, several times.</summary>
    public int Allowance { get; init; } = 5;

    /// <summary>The span in which <see cref="Allowance"/> failures lock an address out (default 30 s).</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The first lockout (default 1 s); each further one doubles, up to <see cref="MaxLockout"/>.</summary>
    public TimeSpan FirstLockout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest lockout (default 60 s).</summary>
    public TimeSpan MaxLockout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// At most one log line per address per interval (default 30 s): the first failure is logged at once with its reason,
    /// the ones after it are counted and logged together when the interval has passed.
    /// </summary>
    public TimeSpan LogInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Allowance is < 1 or > 1000)
            throw new ArgumentException($"HandshakeThrottleOptions.Allowance is {Allowance}; it must be from 1 to 1000.", nameof(Allowance));
        if (Window <= TimeSpan.Zero || Window > TimeSpan.FromHours(1))
            throw new ArgumentException($"HandshakeThrottleOptions.Window is {Window}; it must be more than zero and at most one hour.", nameof(Window));
        if (FirstLockout <= TimeSpan.Zero || FirstLockout > MaxLockout)
            throw new ArgumentException($"HandshakeThrottleOptions.FirstLockout is {FirstLockout}; it must be more than zero and at most MaxLockout ({MaxLockout}).", nameof(FirstLockout));
        if (MaxLockout > TimeSpan.FromHours(1))
            throw new ArgumentException($"HandshakeThrottleOptions.MaxLockout is {MaxLockout}; it must be at most one hour.", nameof(MaxLockout));
        if (LogInterval < TimeSpan.FromMilliseconds(10) || LogInterval > TimeSpan.FromHours(1))
            throw new ArgumentException($"HandshakeThrottleOptions.LogInterval is {LogInterval}; it must be from 10 ms to one hour.", nameof(LogInterval));
    }
}

/// <summary>
/// Failed handshakes per remote address: after <see cref="HandshakeThrottleOptions.Allowance"/> failures within the
/// window the address is locked out (its handshakes refused at once, without a challenge) for a period that doubles with
/// each lockout. A successful handshake does not clear the address (a holder of the client key must not earn fresh
/// guesses at the admin key); the window and lockouts simply run out. Failures are logged at Warning at most once per
/// <see cref="HandshakeThrottleOptions.LogInterval"/> per address, each line with the count since the previous one, so a
/// burst of wrong keys costs the log a line or two instead of one per attempt. Memory is bounded: at most
/// <see cref="MaxAddresses"/> addresses are tracked (idle ones are dropped first).
/// </summary>
public sealed class HandshakeThrottle : IDisposable
{
    /// <summary>The most addresses tracked at once.</summary>
    public const int MaxAddresses = 10_000;

    private readonly HandshakeThrottleOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TransportMetrics _metrics;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ITimer _flush;

    /// <summary>A throttle logging to <paramref name="logger"/> and counting in <paramref name="metrics"/>.</summary>
    public HandshakeThrottle(HandshakeThrottleOptions options, TimeProvider time, ILogger logger, TransportMetrics metrics)
    {
        options.Validate();
        _options = options;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _flush = time.CreateTimer(static s => ((HandshakeThrottle)s!).Flush(), this, options.LogInterval, options.LogInterval);
    }

    /// <summary>The address part of a remote end point (one entry per host, whatever its source port).</summary>
    public static string AddressOf(EndPoint? remote) => remote switch
    {
        IPEndPoint ip => (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address).ToString(),
        null => "(unknown)",
        _ => remote.ToString() ?? "(unknown)",
    };

    /// <summary>How long <paramref name="address"/> stays locked out, or null when it may handshake now.</summary>
    public TimeSpan? LockedOut(string address)
    {
        var now = _time.GetUtcNow();
        lock (_entries)
        {
            return _entries.TryGetValue(address, out var entry) && entry.LockedUntil > now ? entry.LockedUntil - now : null;
        }
    }

    /// <summary>Counts a refused handshake of <paramref name="address"/> (maybe locking it out) and logs it when this interval's line is due.</summary>
    /// <param name="address">The remote address (<see cref="AddressOf"/>).</param>
    /// <param name="reason">Why it was refused (already free of raw peer text).</param>
    /// <param name="sender">What the peer claimed to be, for the log ("client 'x'"), escaped; or null before a Hello.</param>
    /// <param name="throttled">True when it was refused because the address is locked out (then it does not extend the lockout).</param>
    public void Failed(string address, string reason, string? sender, bool throttled)
    {
        var now = _time.GetUtcNow();
        (int Count, int Throttled, DateTimeOffset? LockedUntil)? log = null;
        lock (_entries)
        {
            if (!_entries.TryGetValue(address, out var entry))
            {
                if (_entries.Count >= MaxAddresses) Prune(now);
                _entries[address] = entry = new Entry { WindowStart = now };
            }

            entry.LastReason = reason;
            entry.LastSender = sender;
            entry.Unlogged++;
            if (throttled)
            {
                entry.Throttled++;
            }
            else
            {
                if (now - entry.WindowStart > _options.Window)
                {
                    entry.WindowStart = now;
                    entry.Failures = 0;
                }

                // A long quiet spell forgets earlier lockouts.
                if (entry.LockedUntil != default && now - entry.LockedUntil > 2 * _options.MaxLockout) entry.Lockouts = 0;
                if (++entry.Failures >= _options.Allowance)
                {
                    var lockout = TimeSpan.FromTicks(Math.Min(_options.MaxLockout.Ticks, _options.FirstLockout.Ticks << Math.Min(entry.Lockouts, 20)));
                    entry.LockedUntil = now + lockout;
                    entry.Lockouts++;
                    entry.Failures = 0;
                    entry.WindowStart = now;
                    _metrics.AddressLockedOut();
                }
            }

            if (entry.LastLog is null || now - entry.LastLog.Value >= _options.LogInterval)
            {
                log = (entry.Unlogged, entry.Throttled, entry.LockedUntil > now ? entry.LockedUntil : null);
                entry.LastLog = now;
                entry.Unlogged = 0;
                entry.Throttled = 0;
            }
        }

        if (log is { } line) Write(address, line.Count, line.Throttled, reason, sender, line.LockedUntil, now);
    }

    /// <summary>Writes the pending counts whose interval has passed, and drops addresses with nothing left to remember.</summary>
    internal void Flush()
    {
        var now = _time.GetUtcNow();
        var due = new List<(string Address, Entry Entry, int Count, int Throttled, DateTimeOffset? LockedUntil)>();
        lock (_entries)
        {
            foreach (var (address, entry) in _entries)
            {
                if (entry.Unlogged == 0 || (entry.LastLog is { } last && now - last < _options.LogInterval)) continue;
                due.Add((address, entry, entry.Unlogged, entry.Throttled, entry.LockedUntil > now ? entry.LockedUntil : null));
                entry.LastLog = now;
                entry.Unlogged = 0;
                entry.Throttled = 0;
            }

            Prune(now);
        }

        foreach (var (address, entry, count, throttled, lockedUntil) in due)
            Write(address, count, throttled, entry.LastReason!, entry.LastSender, lockedUntil, now);
    }

    /// <summary>Addresses tracked now (tests).</summary>
    internal int Tracked
    {
        get { lock (_entries) return _entries.Count; }
    }

    private void Write(string address, int count, int throttled, string reason, string? sender, DateTimeOffset? lockedUntil, DateTimeOffset now)
    {
        var who = sender is null ? "" : $" ({sender})";
        var lockout = lockedUntil is { } until ? $"; locked out for {(until - now).TotalSeconds:0.#} s" : "";
        var refusedWhileLocked = throttled > 0 ? $", {throttled} of them while locked out" : "";
        _logger.LogWarning("Handshake from {Address}{Who} refused: {Reason} [{Count} refused from this address since the last report{Throttled}{Lockout}]",
            address, who, reason, count, refusedWhileLocked, lockout);
    }

    /// <summary>Drops entries with nothing to report, no lockout and no recent failure; at the cap, the oldest windows too. Under the lock.</summary>
    private void Prune(DateTimeOffset now)
    {
        foreach (var (address, entry) in _entries.ToList())
        {
            var quiet = now - entry.WindowStart > _options.Window && entry.LockedUntil <= now && now - entry.LockedUntil > 2 * _options.MaxLockout;
            if (quiet && entry.Unlogged == 0) _entries.Remove(address);
        }

        if (_entries.Count < MaxAddresses) return;
        foreach (var (address, _) in _entries.Where(e => e.Value.LockedUntil <= now).OrderBy(e => e.Value.WindowStart).Take(_entries.Count - MaxAddresses / 2).ToList())
            _entries.Remove(address);
    }

    /// <inheritdoc />
    public void Dispose() => _flush.Dispose();

    private sealed class Entry
    {
        public DateTimeOffset WindowStart;
        public int Failures;
        public int Lockouts;
        public DateTimeOffset LockedUntil;
        public DateTimeOffset? LastLog;
        public int Unlogged;
        public int Throttled;
        public string? LastReason;
        public string? LastSender;
    }
}
