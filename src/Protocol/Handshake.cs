using System.Security.Cryptography;
using System.Text;

namespace Middleware.Protocol;

/// <summary>What a server decided about a connection's first frame: the accepted Hello, or the reason it refuses.</summary>
public sealed record HandshakeOutcome(HelloMessage? Hello, string? RejectReason)
{
    /// <summary>True when the connection may proceed.</summary>
    public bool Accepted => Hello is not null;
}

/// <summary>
/// The server's handshake rules, kept apart from sockets so they are tested directly: the first frame must be a
/// Hello with the "MWP" magic, a protocol version from <see cref="ProtocolConstants.MinVersion"/> to the server's, and the
/// cluster key when the server requires one. The connection then speaks the Hello's version (HelloOk says so).
/// </summary>
public static class Handshake
{
    /// <summary>Judges the first frame of a connection.</summary>
    /// <param name="first">The first frame received.</param>
    /// <param name="serverVersion">The newest version the server speaks (normally <see cref="ProtocolConstants.Version"/>).</param>
    /// <param name="requiredClusterKey">The key every peer must present, or null when the server requires none.</param>
    public static HandshakeOutcome Evaluate(in Frame first, ushort serverVersion, string? requiredClusterKey)
    {
        if (first.Type != MessageType.Hello)
            return Reject($"the first frame must be Hello, but a {first.Type} frame arrived; send Hello before any request");
        if (!MessageCodec.TryPeekHelloVersion(first, out var version))
            return Reject("the Hello does not start with the \"MWP\" magic; this port speaks the Middleware protocol");
        // Versions are compared before the rest is decoded: another version's Hello may have other fields.
        // Older peers down to MinVersion are served in their own version (the connection answers in it).
        if (version > serverVersion || version < Math.Min(ProtocolConstants.MinVersion, serverVersion))
            return Reject($"protocol version {version} is not supported: this server speaks protocol version {serverVersion} (and serves peers down to version {Math.Min(ProtocolConstants.MinVersion, serverVersion)}); use a client of the same release or older");
        if (!MessageCodec.TryDecode(first, out var message, out var error))
            return Reject($"the Hello is malformed ({error!.Message})");
        var hello = (HelloMessage)message!;
        if (requiredClusterKey is not null)
        {
            if (string.IsNullOrEmpty(hello.ClusterKey))
                return Reject("cluster key required: this server belongs to a cluster that requires a cluster key, and the Hello carries none; configure the cluster's key on the connecting side");
            if (!KeysEqual(hello.ClusterKey, requiredClusterKey))
                return Reject("cluster key mismatch: the Hello carries a cluster key that is not this cluster's key; configure the cluster's key on the connecting side");
        }

        return new HandshakeOutcome(hello, null);
    }

    private static HandshakeOutcome Reject(string reason) => new(null, reason);

    /// <summary>Constant-time comparison, so the time to refuse a key tells an attacker nothing about its prefix.</summary>
    private static bool KeysEqual(string given, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
}
