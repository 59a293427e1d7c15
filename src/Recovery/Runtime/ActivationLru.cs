namespace Middleware.Recovery.Runtime;

/// <summary>
/// The collector's recency list: live activations in buckets by when they were last used, oldest bucket first, so a
/// collector pass reads only the oldest buckets (what it deactivates and about one bucket more) instead of walking every
/// live activation (bench/README.md, "Cold activations: the collector's list (session 11)").
/// <para>
/// Each activation carries the generation of the bucket it was last placed in (<see cref="Activation.LruGeneration"/>).
/// A touch (an activation created, a request entering) compares it with the newest bucket's: equal, it is there already
/// and the touch costs two reads and no write; else it is appended to the newest bucket (one interlocked exchange, one
/// slot reserved), and its entry in the older bucket goes stale (a bucket's entry counts only while the activation's
/// generation is that bucket's). So an activation busy all the time is appended once per bucket, not once per turn.
/// </para>
/// <para>
/// The newest bucket is closed when full (<see cref="Capacity"/> entries) or by a collector pass, and a new one starts.
/// Every entry of a bucket was last used before every entry of the buckets after it (each entry's last use fell while
/// its bucket was the newest), so the oldest buckets hold the least recently used: a pass takes their entries whole, and
/// orders only those by last use. What a pass reads but keeps goes back in front as one bucket. Entries of activations
/// that left the table, and stale entries, are dropped as the collector reaches them. The list is compacted (each bucket
/// rebuilt with its current entries) when such entries make up more than half of it, or when more activations left the
/// table by other ways than the collector (a handover, a dropped silo: their entries hold the dead objects) than an
/// eighth of the live count plus a bucket, so memory stays proportional to the live activations.
/// </para>
/// The collector works on the list under its own lock; touches never take a lock.
/// </summary>
internal sealed class ActivationLru
{
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private int _generations;
    private int _forgotten;
    private Bucket _current;
    private Bucket _oldest;

    /// <param name="capacity">Entries per bucket: how many a pass reads at most beyond what it takes.</param>
    /// <param name="time">The runtime's clock (a bucket's start, for the idle age).</param>
    public ActivationLru(int capacity, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _time = time;
        _current = _oldest = new Bucket(NextGeneration(), time.GetUtcNow().UtcTicks, capacity);
    }

    /// <summary>Entries per bucket.</summary>
    public int Capacity { get; }

    /// <summary>The lock collector passes hold while they read and change the list.</summary>
    public object Lock => _lock;

    /// <summary>Entries in the list, stale ones included (for tests and the compaction rule).</summary>
    public int Entries
    {
        get
        {
            var n = 0;
            for (var b = Volatile.Read(ref _oldest); b is not null; b = Volatile.Read(ref b.Next)) n += b.Count;
            return n;
        }
    }

    /// <summary>Entries passes have read since the start (for tests: a pass reads about what it takes, not the table).</summary>
    public long Examined { get; private set; }

    /// <summary>Passes since the start.</summary>
    public long Passes { get; private set; }

    /// <summary>Buckets in the list (for tests).</summary>
    public int Buckets
    {
        get
        {
            var n = 0;
            for (var b = Volatile.Read(ref _oldest); b is not null; b = Volatile.Read(ref b.Next)) n++;
            return n;
        }
    }

    private int NextGeneration()
    {
        // 0 is what a new activation carries: never a bucket's.
        var g = Interlocked.Increment(ref _generations);
        return g == 0 ? Interlocked.Increment(ref _generations) : g;
    }

    /// <summary>An activation left the runtime's table by another way than the collector (its entry stays until a pass reaches or rebuilds it).</summary>
    public void Forgotten() => Interlocked.Increment(ref _forgotten);

    /// <summary>Marks <paramref name="activation"/> used now: it moves to the newest bucket unless it is there already. Lock-free.</summary>
    public void Touch(Activation activation)
    {
        var newest = Volatile.Read(ref _current);
        if (Volatile.Read(ref activation.LruGeneration) != newest.Generation) Append(activation, newest);
    }

    private void Append(Activation activation, Bucket bucket)
    {
        while (true)
        {
            // Two touches at once: one appends, the other finds the generation set and leaves.
            if (Interlocked.Exchange(ref activation.LruGeneration, bucket.Generation) == bucket.Generation) return;
            var slot = Interlocked.Increment(ref bucket.Reserved) - 1;
            if (slot < bucket.Items.Length)
            {
                Volatile.Write(ref bucket.Items[slot], activation);
                // Against a pass that closes the bucket: it sets Sealed and then reads the slots; this writes the slot and
                // then reads Sealed. One of the two sees the other's write; when this one sees Sealed, the pass may have
                // read the slot empty, so the activation goes to the newest bucket as well.
                Interlocked.MemoryBarrier();
                if (!Volatile.Read(ref bucket.Sealed)) return;
                bucket = Volatile.Read(ref _current);
            }
            else
            {
                bucket = Advance(bucket);
            }
        }
    }

    /// <summary>Closes <paramref name="full"/> as the newest bucket (unless that happened already) and returns the one after it.</summary>
    private Bucket Advance(Bucket full)
    {
        var next = Volatile.Read(ref full.Next);
        if (next is null)
        {
            var made = new Bucket(NextGeneration(), _time.GetUtcNow().UtcTicks, Capacity);
            next = Interlocked.CompareExchange(ref full.Next, made, null) ?? made;
        }

        // Only ever from a bucket to the one after it: a late helper cannot move the newest back.
        Interlocked.CompareExchange(ref _current, next, full);
        return next;
    }

    /// <summary>
    /// One collector pass over the oldest buckets (under <see cref="Lock"/>): closes the newest bucket (when it holds
    /// anything) so that everything before it can be read, compacts the list when it is mostly stale, then reads buckets
    /// from the oldest while fewer than <paramref name="wanted"/> candidates were found or the bucket started at or before
    /// <paramref name="idleBefore"/>. Collectible entries last used at or before <paramref name="idleBefore"/> go to
    /// <paramref name="idle"/>, other collectible ones to <paramref name="candidates"/> (the caller takes some and gives
    /// the rest back with <see cref="PutBack"/>); busy ones, ones with a turn in doubt and ones still recovering move to
    /// the newest bucket; entries of activations no longer in the table (<paramref name="inTable"/>) are dropped.
    /// </summary>
    public void Read(long idleBefore, int wanted, int live, Func<Activation, bool> inTable, List<Activation> idle, List<Candidate> candidates)
    {
        var newest = Volatile.Read(ref _current);
        var stop = Volatile.Read(ref newest.Reserved) > 0 ? Advance(newest) : newest;
        // Rebuilt when mostly stale, or when activations that left the table otherwise (a handover, a dropped silo) are
        // many: their entries hold the dead objects until the collector reaches them.
        if (Entries > 2 * live + 4 * Capacity || Volatile.Read(ref _forgotten) > live / 8 + Capacity)
        {
            Volatile.Write(ref _forgotten, 0);
            Compact(stop, inTable);
        }

        Passes++;
        var b = _oldest;
        while (!ReferenceEquals(b, stop) && (candidates.Count < wanted || b.StartTicks <= idleBefore))
        {
            Seal(b);
            var count = b.Count;
            Examined += count;
            for (var i = 0; i < count; i++)
            {
                var a = Volatile.Read(ref b.Items[i]);
                if (a is null || Volatile.Read(ref a.LruGeneration) != b.Generation) continue; // being appended (placed again), or stale
                if (!(a.IsActive && a.IsIdle && !a.MayHaveTurnInDoubt))
                {
                    if (inTable(a)) Append(a, Volatile.Read(ref _current));
                    continue;
                }

                var lastUsed = a.LastUsedTicks;
                if (lastUsed <= idleBefore) idle.Add(a);
                else candidates.Add(new Candidate(a, lastUsed, b.Generation));
            }

            b = b.Next!;
        }

        Volatile.Write(ref _oldest, b);
    }

    /// <summary>
    /// Gives back the candidates a pass read but did not take, least recently used first: they go in front of the list as
    /// one bucket, each unless it was touched since (then it is in the newest bucket already).
    /// </summary>
    public void PutBack(IReadOnlyList<Candidate> kept)
    {
        if (kept.Count == 0) return;
        var front = new Bucket(NextGeneration(), kept[0].LastUsed, kept.Count) { Sealed = true };
        var n = 0;
        foreach (var c in kept)
        {
            if (Interlocked.CompareExchange(ref c.Activation.LruGeneration, front.Generation, c.Generation) == c.Generation) front.Items[n++] = c.Activation;
        }

        if (n == 0) return;
        front.Reserved = n;
        front.Next = _oldest;
        Volatile.Write(ref _oldest, front);
    }

    /// <summary>Rebuilds every bucket before <paramref name="stop"/> with its current entries only, dropping empty ones.</summary>
    private void Compact(Bucket stop, Func<Activation, bool> inTable)
    {
        Bucket? first = null, last = null;
        for (var b = _oldest; !ReferenceEquals(b, stop); b = b.Next!)
        {
            Seal(b);
            var count = b.Count;
            var keep = new List<Activation>();
            for (var i = 0; i < count; i++)
            {
                var a = Volatile.Read(ref b.Items[i]);
                if (a is not null && Volatile.Read(ref a.LruGeneration) == b.Generation && inTable(a)) keep.Add(a);
            }

            if (keep.Count == 0) continue;
            var rebuilt = new Bucket(b.Generation, b.StartTicks, keep.Count) { Sealed = true, Reserved = keep.Count };
            for (var i = 0; i < keep.Count; i++) rebuilt.Items[i] = keep[i];
            if (last is null) first = rebuilt;
            else last.Next = rebuilt;
            last = rebuilt;
        }

        if (last is null)
        {
            Volatile.Write(ref _oldest, stop);
            return;
        }

        last.Next = stop;
        Volatile.Write(ref _oldest, first!);
    }

    private static void Seal(Bucket bucket)
    {
        Volatile.Write(ref bucket.Sealed, true);
        Interlocked.MemoryBarrier();
    }

    /// <summary>An activation a pass read, its last use, and the generation of the bucket it was read from.</summary>
    public readonly record struct Candidate(Activation Activation, long LastUsed, int Generation);

    private sealed class Bucket(int generation, long startTicks, int capacity)
    {
        public readonly int Generation = generation;
        public readonly long StartTicks = startTicks;
        public readonly Activation?[] Items = new Activation?[capacity];
        public int Reserved;
        public bool Sealed;
        public Bucket? Next;

        public int Count => Math.Min(Volatile.Read(ref Reserved), Items.Length);
    }
}
