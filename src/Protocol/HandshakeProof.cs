using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Middleware.Protocol;

/// <summary>
/// The proofs of the version-3 handshake. Each side proves it knows the role's key by an HMAC-SHA256 keyed with it over a
/// transcript that binds a fixed label (distinct for the two directions, so one side's proof is never valid as the
/// other's), the protocol version, the claimed role, the sender id and both nonces; the server's proof also binds its
/// silo id. Fields of variable length are length-prefixed (u32 LE), so no two transcripts share their bytes. The key
/// itself never leaves either side.
/// </summary>
public static class HandshakeProof
{
    private static ReadOnlySpan<byte> ClientLabel => "MWP v3 handshake: client proof\0"u8;

    private static ReadOnlySpan<byte> ServerLabel => "MWP v3 handshake: server proof\0"u8;

    /// <summary>The connecting side's proof: HMAC-SHA256(key, client label | version | role | sender id | client nonce | server nonce).</summary>
    public static byte[] Client(ReadOnlySpan<byte> key, ushort version, PeerRole role, string senderId, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce)
    {
        using var hmac = Transcript(key, ClientLabel, version, role, senderId, clientNonce, serverNonce);
        return hmac.GetHashAndReset();
    }

    /// <summary>The server's proof: HMAC-SHA256(key, server label | version | role | sender id | client nonce | server nonce | silo id).</summary>
    public static byte[] Server(ReadOnlySpan<byte> key, ushort version, PeerRole role, string senderId, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce, string siloId)
    {
        using var hmac = Transcript(key, ServerLabel, version, role, senderId, clientNonce, serverNonce);
        AppendString(hmac, siloId);
        return hmac.GetHashAndReset();
    }

    /// <summary>Compares a received proof with the expected one in constant time (the time to refuse tells nothing about the bytes).</summary>
    public static bool Matches(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> received) =>
        received.Length == expected.Length && CryptographicOperations.FixedTimeEquals(expected, received);

    /// <summary>A fresh random nonce of <see cref="ProtocolConstants.NonceSize"/> bytes.</summary>
    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(ProtocolConstants.NonceSize);

    /// <summary>The bytes a key string stands for in the HMAC (UTF-8).</summary>
    public static byte[] KeyBytes(string key) => Encoding.UTF8.GetBytes(key);

    private static IncrementalHash Transcript(ReadOnlySpan<byte> key, ReadOnlySpan<byte> label, ushort version, PeerRole role, string senderId, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce)
    {
        var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(label);
        Span<byte> fixedPart = stackalloc byte[3];
        BinaryPrimitives.WriteUInt16LittleEndian(fixedPart, version);
        fixedPart[2] = (byte)role;
        hmac.AppendData(fixedPart);
        AppendString(hmac, senderId);
        AppendBytes(hmac, clientNonce);
        AppendBytes(hmac, serverNonce);
        return hmac;
    }

    private static void AppendString(IncrementalHash hmac, string value) => AppendBytes(hmac, Encoding.UTF8.GetBytes(value));

    private static void AppendBytes(IncrementalHash hmac, ReadOnlySpan<byte> value)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)value.Length);
        hmac.AppendData(length);
        hmac.AppendData(value);
    }
}

/// <summary>
/// The keys a server holds, one per role (null: none for that role). With none at all the server is open ("laptop
/// mode": no handshake proof, no authorization). With any, a silo or admin peer must prove its role's key, a client
/// must prove the client key when there is one (and connects without a key when there is none), and requests are
/// authorized by role. Several roles may share one key (the cluster key shortcut).
/// </summary>
public sealed class HandshakeKeys
{
    private readonly byte[]? _client;
    private readonly byte[]? _silo;
    private readonly byte[]? _admin;

    /// <summary>Keys from their text (UTF-8); null or empty leaves a role without a key.</summary>
    public HandshakeKeys(string? client, string? silo, string? admin)
    {
        _client = string.IsNullOrEmpty(client) ? null : HandshakeProof.KeyBytes(client);
        _silo = string.IsNullOrEmpty(silo) ? null : HandshakeProof.KeyBytes(silo);
        _admin = string.IsNullOrEmpty(admin) ? null : HandshakeProof.KeyBytes(admin);
    }

    /// <summary>No key for any role: every peer connects without proof and every request is allowed.</summary>
    public static HandshakeKeys None { get; } = new(null, null, null);

    /// <summary>One key for every role (the cluster key shortcut).</summary>
    public static HandshakeKeys Shared(string? key) => new(key, key, key);

    /// <summary>True when the server holds at least one key, and so authorizes requests by role.</summary>
    public bool Enforced => _client is not null || _silo is not null || _admin is not null;

    /// <summary>Whether <paramref name="role"/> has a key.</summary>
    public bool Has(PeerRole role) => For(role) is not null;

    /// <summary>The key of <paramref name="role"/>, or null.</summary>
    internal byte[]? For(PeerRole role) => role switch
    {
        PeerRole.Client => _client,
        PeerRole.Silo => _silo,
        PeerRole.Admin => _admin,
        _ => null,
    };
}
