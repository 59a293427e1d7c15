using System.Collections.Concurrent;

namespace Middleware.Silo;

/// <summary>
/// Where components live, as this silo last learned it: component id to the owner's protocol address. A hint, never
/// the truth: a wrong entry costs one Moved reply or one failed forward, after which it is forgotten. Bounded (emptied
/// when it outgrows <see cref="MaxEntries"/>) and emptied whenever silos leave the view.
/// </summary>
internal sealed class DirectoryCache
{
    /// <summary>The most entries kept before the cache starts over.</summary>
    public const int MaxEntries = 200_000;

    private readonly ConcurrentDictionary<string, string> _owners = new(StringComparer.Ordinal);

    /// <summary>Entries now.</summary>
    public int Count => _owners.Count;

    /// <summary>The owner's address last learned for <paramref name="componentId"/>.</summary>
    public bool TryGet(string componentId, out string address) => _owners.TryGetValue(componentId, out address!);

    /// <summary>Remembers that <paramref name="componentId"/> lives at <paramref name="address"/>.</summary>
    public void Set(string componentId, string address)
    {
        if (_owners.Count > MaxEntries) _owners.Clear();
        _owners[componentId] = address;
    }

    /// <summary>Forgets where <paramref name="componentId"/> lives (the entry was wrong or the owner failed).</summary>
    public void Forget(string componentId) => _owners.TryRemove(componentId, out _);

    /// <summary>Forgets everything (silos left the view: their components are placed anew).</summary>
    public void Clear() => _owners.Clear();
}
