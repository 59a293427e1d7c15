using System.Net;
using Middleware.Protocol;

namespace Middleware.Transport;

/// <summary>
/// Who is on the other end of one connection, as the handshake established it, and what it has proven since: the
/// frame handler authorizes each request against it. One instance per connection, shared by its requests.
/// </summary>
public sealed class PeerContext
{
    /// <summary>The peer the handshake accepted, from <paramref name="remote"/>; <paramref name="authorizes"/> when the listener holds keys.</summary>
    public PeerContext(PeerIdentity identity, EndPoint? remote, bool authorizes)
    {
        Identity = identity;
        RemoteEndPoint = remote;
        Authorizes = authorizes;
    }

    /// <summary>The sender id, role, protocol version and whether a key was proven.</summary>
    public PeerIdentity Identity { get; }

    /// <summary>The sender id of the Hello (printable; still escape it when logging, see <see cref="LogText"/>).</summary>
    public string SenderId => Identity.SenderId;

    /// <summary>The role: proven when <see cref="PeerIdentity.ProvedKey"/>, else claimed on a listener that needs no key for it.</summary>
    public PeerRole Role => Identity.Role;

    /// <summary>The protocol version the connection speaks.</summary>
    public ushort ProtocolVersion => Identity.ProtocolVersion;

    /// <summary>Where the peer connected from.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>
    /// True when the listener holds at least one key: requests are authorized by <see cref="Role"/> and, for clients, by
    /// the sessions in <see cref="Sessions"/>. False on an open listener (no key anywhere), where everything is allowed.
    /// </summary>
    public bool Authorizes { get; }

    /// <summary>The sessions this peer proved on this connection (opened, or proven with their token).</summary>
    public ProvenSessions Sessions { get; } = new();

    /// <summary>The peer as it reads in logs: role and escaped sender id.</summary>
    public override string ToString() => $"{ServerHandshake.RoleName(Role)} {LogText.Quote(SenderId)}";
}

/// <summary>
/// The sessions a client proved on one connection. Lookups take no lock and allocate nothing (a request's session is a
/// prefix of its request id); a connection rarely proves more than one or two, so a copied array is the whole structure.
/// </summary>
public sealed class ProvenSessions
{
    /// <summary>The most sessions one connection may prove; more is refused (a connection is not a session directory).</summary>
    public const int Limit = 1024;

    private string[] _ids = [];

    /// <summary>How many sessions were proven.</summary>
    public int Count => Volatile.Read(ref _ids).Length;

    /// <summary>True when <paramref name="sessionId"/> was proven on this connection.</summary>
    public bool Contains(ReadOnlySpan<char> sessionId)
    {
        foreach (var id in Volatile.Read(ref _ids))
        {
            if (sessionId.SequenceEqual(id)) return true;
        }

        return false;
    }

    /// <summary>Records <paramref name="sessionId"/> as proven; false when the connection is at <see cref="Limit"/>.</summary>
    public bool Add(string sessionId)
    {
        while (true)
        {
            var current = Volatile.Read(ref _ids);
            if (Contains(sessionId)) return true;
            if (current.Length >= Limit) return false;
            if (Interlocked.CompareExchange(ref _ids, [.. current, sessionId], current) == current) return true;
        }
    }
}
