using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The request ids an activation remembers since its checkpoint, by id (<see cref="DedupMemory.Recent"/>). Most live
/// activations remember one (the turn since their checkpoint), so one id is kept in two fields and a dictionary is made
/// only for a second: 40 bytes instead of ~220 for a dictionary of one. Not thread-safe: used under the activation's turn
/// lock (or, for fences decided aside, its append lock while the turn is parked), as the dictionary was.
/// </summary>
internal sealed class RecentRequests : IEnumerable<KeyValuePair<string, DedupSlot>>
{
    private string? _onlyId;
    private DedupSlot? _onlySlot;
    private Dictionary<string, DedupSlot>? _many;

    /// <summary>How many request ids are remembered.</summary>
    public int Count => _many?.Count ?? (_onlyId is null ? 0 : 1);

    /// <summary>Remembers <paramref name="requestId"/> with <paramref name="slot"/> (replacing what it held).</summary>
    public DedupSlot this[string requestId]
    {
        set
        {
            ArgumentNullException.ThrowIfNull(requestId);
            if (_many is not null)
            {
                _many[requestId] = value;
            }
            else if (_onlyId is null || string.Equals(_onlyId, requestId, StringComparison.Ordinal))
            {
                _onlyId = requestId;
                _onlySlot = value;
            }
            else
            {
                _many = new Dictionary<string, DedupSlot>(StringComparer.Ordinal) { [_onlyId] = _onlySlot!, [requestId] = value };
                _onlyId = null;
                _onlySlot = null;
            }
        }
    }

    /// <summary>The slot of <paramref name="requestId"/>, if remembered.</summary>
    public bool TryGetValue(string requestId, [MaybeNullWhen(false)] out DedupSlot slot)
    {
        if (_many is not null) return _many.TryGetValue(requestId, out slot);
        if (_onlyId is not null && string.Equals(_onlyId, requestId, StringComparison.Ordinal))
        {
            slot = _onlySlot!;
            return true;
        }

        slot = null;
        return false;
    }

    /// <summary>Forgets <paramref name="requestId"/>; true when it was remembered.</summary>
    public bool Remove(string requestId)
    {
        if (_many is not null)
        {
            if (!_many.Remove(requestId)) return false;
            if (_many.Count == 0) _many = null; // pruned by a checkpoint: back to one id in fields
            return true;
        }

        if (_onlyId is null || !string.Equals(_onlyId, requestId, StringComparison.Ordinal)) return false;
        _onlyId = null;
        _onlySlot = null;
        return true;
    }

    public IEnumerator<KeyValuePair<string, DedupSlot>> GetEnumerator()
    {
        if (_many is not null) return _many.GetEnumerator();
        return _onlyId is null
            ? Enumerable.Empty<KeyValuePair<string, DedupSlot>>().GetEnumerator()
            : new[] { new KeyValuePair<string, DedupSlot>(_onlyId, _onlySlot!) }.AsEnumerable().GetEnumerator();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
