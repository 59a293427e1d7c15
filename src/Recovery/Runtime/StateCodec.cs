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
}
