using System.Security.Cryptography;
using System.Text;

namespace Middleware.Silo;

/// <summary>
/// Session tokens: 32 random bytes (base64url, 43 characters) issued to the client that creates a session. The store keeps
/// only the SHA-256 of the token (lowercase hex), so reading the store does not let anyone act as a session.
/// </summary>
internal static class SessionTokens
{
    /// <summary>A new token.</summary>
    public static string New() => Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>The hash the store keeps of <paramref name="token"/>.</summary>
    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>True when <paramref name="token"/> hashes to <paramref name="storedHash"/>, compared in constant time.</summary>
    public static bool Matches(string? storedHash, string? token) =>
        storedHash is not null && token is not null
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(token)), Encoding.ASCII.GetBytes(storedHash));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
