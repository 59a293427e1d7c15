using System.Security.Cryptography;
using System.Text.Json;

namespace Middleware.Recovery.Runtime;

/// <summary>Serializes component state for checkpoints: canonical JSON and its SHA-256 hash.</summary>
internal static class StateCodec
{
    public static byte[] Serialize(object state, Type stateType, JsonSerializerOptions json) =>
        JsonSerializer.SerializeToUtf8Bytes(state, stateType, json);

    public static object Deserialize(ReadOnlySpan<byte> bytes, Type stateType, JsonSerializerOptions json) =>
        JsonSerializer.Deserialize(bytes, stateType, json)
        ?? throw new InvalidDataException($"A checkpoint of state type {stateType.Name} decoded to null.");

    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Whether <paramref name="bytes"/> hash to <paramref name="hash"/> (as <see cref="Hash"/> writes it), without allocating: every cold activation checks its checkpoint.</summary>
    public static bool HashMatches(ReadOnlySpan<byte> bytes, string hash)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(bytes, digest);
        Span<char> hex = stackalloc char[SHA256.HashSizeInBytes * 2];
        return Convert.TryToHexStringLower(digest, hex, out var written) && hex[..written].SequenceEqual(hash);
    }
}
