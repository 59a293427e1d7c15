using System.Diagnostics.CodeAnalysis;

namespace Middleware.Protocol;

/// <summary>
/// Requests waiting for replies, by correlation id. A plain dictionary under a lock: no allocation per request (a
/// concurrent dictionary allocates a node each time), and closing is atomic with adding, so a request added while
/// the connection closes is either drained by the close or refused here, never left pending forever.
/// </summary>
internal sealed class PendingTable
{
    private readonly Dictionary<ulong, IPendingRequest> _requests = [];
    private bool _closed;

    public int Count
    {
        get
        {
            lock (_requests) return _requests.Count;
        }
    }

    /// <summary>Adds a request; false once the table is closed.</summary>
    public bool TryAdd(ulong id, IPendingRequest request)
    {
        lock (_requests)
        {
            if (_closed) return false;
            _requests.Add(id, request);
            return true;
        }
    }

    public bool TryRemove(ulong id, [NotNullWhen(true)] out IPendingRequest? request)
    {
        lock (_requests) return _requests.Remove(id, out request);
    }

    /// <summary>Removes and returns the requests whose deadline has passed.</summary>
    public List<IPendingRequest> RemoveExpired(long now)
    {
        var expired = new List<IPendingRequest>();
        lock (_requests)
        {
            foreach (var (id, request) in _requests)
            {
                if (request.Deadline > now) continue;
                expired.Add(request);
                _requests.Remove(id);
            }
        }

        return expired;
    }

    /// <summary>Refuses further adds and returns every request still pending.</summary>
    public List<IPendingRequest> Close()
    {
        lock (_requests)
        {
            _closed = true;
            var all = new List<IPendingRequest>(_requests.Values);
            _requests.Clear();
            return all;
        }
    }
}
