namespace Middleware.Recovery.Runtime;

/// <summary>
/// What an activation knows of the request ids its component recorded before its latest checkpoint (those the store's
/// dedup table keeps and the activation's memory dropped), compact enough to keep for every live activation: enough to
/// prove that a request id is new without asking the store. Without it, every new request of a component past its first
/// checkpoint cost a store read under the turn lock (on PostgreSQL a round trip), for ever.
/// <para>
/// An id is split into a prefix and one or two trailing numbers (<c>session:17</c>, <c>Caller/key:42:1</c>: the SDK's
/// session ids and the engine's call ids; <c>order-42</c>: ids an application numbers itself), and for each prefix the greatest (hi, lo) recorded is kept. An id whose numbers
/// are greater than every recorded one of its prefix cannot have been recorded. Prefixes past <see cref="MaxPrefixes"/>
/// are folded into a bit set by hash: a prefix whose bit is set may have been recorded, so its ids go to the store. Ids
/// without trailing numbers, and ids that do not exceed their prefix's greatest, always go to the store: the proof is
/// only ever "strictly greater", so any id set, however its ids are made, keeps the answer sound.
/// </para>
/// <para>
/// Sound only when <see cref="Complete"/>: the knowledge covers every id the store recorded with a checkpoint. True for an
/// activation of a component that had no checkpoint (the store then holds no dedup entry of it, and every id it records
/// later passes through <see cref="Record"/> when its checkpoint prunes it from memory), or after <see cref="Load"/> of
/// the store's complete list. Not thread-safe: used under the activation's turn lock.
/// </para>
/// </summary>
internal sealed class RequestIdKnowledge
{
    /// <summary>Prefixes kept exactly; more are folded into the bit set.</summary>
    internal const int MaxPrefixes = 256;

    /// <summary>
    /// How many ids the lazy load under the turn lock takes from the store at most; a larger history is listed in the
    /// background (<see cref="MaxBackgroundLoad"/>) while the activation asks the store per id.
    /// </summary>
    internal const int MaxLoad = 16384;

    /// <summary>How many ids a background load takes at most (a larger history keeps asking the store per id).</summary>
    internal const int MaxBackgroundLoad = 1 << 20;

    private const int Bits = 4096;
    private Dictionary<string, (long Hi, long Lo)>? _greatest;
    private ulong[]? _folded;

    /// <summary>Whether the knowledge covers every id the store recorded (see the class summary).</summary>
    public bool Complete { get; private set; }

    /// <summary>Whether a load from the store was tried already (once per activation).</summary>
    public bool LoadTried { get; private set; }

    /// <summary>Knowledge of a component with no dedup entry in the store: complete and empty.</summary>
    public static RequestIdKnowledge Empty() => new() { Complete = true };

    /// <summary>Knowledge that knows nothing yet: every id goes to the store until a <see cref="Load"/>.</summary>
    public static RequestIdKnowledge Unknown() => new();

    /// <summary>Takes the store's complete list of recorded ids (or, null, its refusal to give one) and becomes complete.</summary>
    public void Load(IReadOnlyList<string>? recorded)
    {
        LoadTried = true;
        if (recorded is null) return;
        foreach (var id in recorded) Record(id);
        Complete = true;
    }

    /// <summary>
    /// Takes what <paramref name="loaded"/> knows (built by <see cref="Load"/> from the store's complete list, taken after
    /// this knowledge started) and becomes complete: every id the store holds is in the list or, recorded after the list
    /// was read, passed through <see cref="Record"/> here. Nothing happens when <paramref name="loaded"/> is not complete.
    /// </summary>
    public void Merge(RequestIdKnowledge loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        if (!loaded.Complete) return;
        if (loaded._greatest is not null)
        {
            foreach (var (prefix, (hi, lo)) in loaded._greatest) Record(prefix, hi, lo);
        }

        if (loaded._folded is not null)
        {
            _folded ??= new ulong[Bits / 64];
            for (var i = 0; i < _folded.Length; i++) _folded[i] |= loaded._folded[i];
        }

        LoadTried = true;
        Complete = true;
    }

    /// <summary>Adds an id the store now keeps (a checkpoint pruned it from the activation's memory).</summary>
    public void Record(string requestId)
    {
        if (!TryParse(requestId, out var prefix, out var hi, out var lo)) return; // never provable new: nothing to keep
        Record(prefix, hi, lo);
    }

    private void Record(ReadOnlySpan<char> prefix, long hi, long lo)
    {
        _greatest ??= new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        var lookup = _greatest.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(prefix, out var greatest))
        {
            if (Greater(hi, lo, greatest)) lookup[prefix] = (hi, lo);
            return;
        }

        if (IsFolded(prefix)) return;
        if (_greatest.Count >= MaxPrefixes)
        {
            // Fold one kept prefix (any) into the bit set to make room: its ids go to the store from now on.
            foreach (var key in _greatest.Keys)
            {
                Fold(key);
                _greatest.Remove(key);
                break;
            }
        }

        lookup[prefix] = (hi, lo);
    }

    /// <summary>True when <paramref name="requestId"/> cannot be among the recorded ids; false when the store must tell.</summary>
    public bool IsCertainlyNew(string requestId)
    {
        if (!Complete || !TryParse(requestId, out var prefix, out var hi, out var lo)) return false;
        if (_greatest is not null && _greatest.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(prefix, out var greatest))
            return Greater(hi, lo, greatest);
        return !IsFolded(prefix);
    }

    /// <summary>
    /// Splits <c>prefix:hi:lo</c> or <c>prefix:lo</c> (hi -1), each number 1-18 ASCII digits; failing that, an id that
    /// ends in 1-18 digits splits into what comes before them and that number (<c>order-42</c>: <c>order-</c>, 42;
    /// <c>r7</c>: <c>r</c>, 7), so the ids applications number themselves are proven new too. Any split is sound (see
    /// the class summary): two ids that split alike only send more requests to the store.
    /// </summary>
    internal static bool TryParse(string requestId, out ReadOnlySpan<char> prefix, out long hi, out long lo)
    {
        var text = requestId.AsSpan();
        prefix = default;
        hi = -1;
        if (!TrySplitNumber(text, out var rest, out lo)) return TrySplitTrailingDigits(text, out prefix, out lo);
        if (TrySplitNumber(rest, out var before, out var number))
        {
            prefix = before;
            hi = number;
        }
        else
        {
            prefix = rest;
        }

        return true;
    }

    private static bool TrySplitTrailingDigits(ReadOnlySpan<char> text, out ReadOnlySpan<char> prefix, out long number)
    {
        var start = text.Length;
        while (start > 0 && char.IsAsciiDigit(text[start - 1])) start--;
        var digits = text[start..];
        number = 0;
        prefix = text[..start];
        if (digits.Length is 0 or > 18) return false;
        foreach (var c in digits) number = (number * 10) + (c - '0');
        return true;
    }

    private static bool TrySplitNumber(ReadOnlySpan<char> text, out ReadOnlySpan<char> rest, out long number)
    {
        rest = default;
        number = 0;
        var colon = text.LastIndexOf(':');
        var digits = text[(colon + 1)..];
        if (colon < 0 || digits.Length is 0 or > 18) return false;
        foreach (var c in digits)
        {
            if (c is < '0' or > '9') return false;
            number = (number * 10) + (c - '0');
        }

        rest = text[..colon];
        return true;
    }

    private static bool Greater(long hi, long lo, (long Hi, long Lo) than) => hi > than.Hi || (hi == than.Hi && lo > than.Lo);

    private bool IsFolded(ReadOnlySpan<char> prefix)
    {
        if (_folded is null) return false;
        var bit = Bit(prefix);
        return (_folded[bit >> 6] & (1UL << (bit & 63))) != 0;
    }

    private void Fold(string prefix)
    {
        _folded ??= new ulong[Bits / 64];
        var bit = Bit(prefix);
        _folded[bit >> 6] |= 1UL << (bit & 63);
    }

    private static int Bit(ReadOnlySpan<char> prefix) => (int)((uint)string.GetHashCode(prefix, StringComparison.Ordinal) % Bits);
}
