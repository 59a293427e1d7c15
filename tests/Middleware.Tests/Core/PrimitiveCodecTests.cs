using System.Text;
using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;

namespace Middleware.Tests.Core;

/// <summary>
/// Integer and boolean arguments and results take a fast path past the serializer; the log keeps one encoding, so that
/// path must write exactly the serializer's bytes and read exactly what the serializer reads.
/// </summary>
public sealed class PrimitiveCodecTests
{
    public interface IPrimitives : IRecoverableComponent
    {
        Task<long> Longs(long a, int b, short c, byte d, sbyte e, ulong f, uint g, ushort h, bool i);

        Task<bool> Flag();

        Task<int> Mixed(long a, string b);
    }

    private static ComponentMethod Method(string name) => ComponentInterface.Of(typeof(IPrimitives)).Methods[name];

    public static TheoryData<long> Longs => new() { 0, 1, -1, 9, 10, long.MaxValue, long.MinValue, 1_000_000_007, -42 };

    [Theory]
    [MemberData(nameof(Longs))]
    public void Arguments_and_results_are_the_bytes_the_serializer_writes(long value)
    {
        var method = Method(nameof(IPrimitives.Longs));
        object?[] args = [value, unchecked((int)value), unchecked((short)value), unchecked((byte)value), unchecked((sbyte)value), unchecked((ulong)value), unchecked((uint)value), unchecked((ushort)value), value > 0];
        var expected = SerializerArray(method, args);

        var encoded = method.EncodeArgs(args, ComponentJson.Default);

        Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(encoded));
        Assert.Equal(args, method.DecodeArgs(encoded, ComponentJson.Default));
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(value, ComponentJson.Default), method.EncodeResult(value, ComponentJson.Default));
        Assert.Equal(value, method.DecodeResult(JsonSerializer.SerializeToUtf8Bytes(value, ComponentJson.Default), ComponentJson.Default));
    }

    [Fact]
    public void Booleans_and_mixed_signatures_match_the_serializer()
    {
        var flag = Method(nameof(IPrimitives.Flag));
        Assert.Equal("[]", Encoding.UTF8.GetString(flag.EncodeArgs([], ComponentJson.Default)));
        Assert.Empty(flag.DecodeArgs("[]"u8, ComponentJson.Default));
        Assert.Equal("true", Encoding.UTF8.GetString(flag.EncodeResult(true, ComponentJson.Default)));
        Assert.Equal(false, flag.DecodeResult("false"u8, ComponentJson.Default));

        var mixed = Method(nameof(IPrimitives.Mixed));
        object?[] args = [5L, "x\"y"];
        var encoded = mixed.EncodeArgs(args, ComponentJson.Default);
        Assert.Equal(SerializerArray(mixed, args), encoded);
        Assert.Equal(args, mixed.DecodeArgs(encoded, ComponentJson.Default));
    }

    [Theory]
    [InlineData(" [ 5 ] ", 5L)]
    [InlineData("[5 ]", 5L)]
    [InlineData("[ -7]", -7L)]
    public void Other_spellings_the_serializer_accepts_still_decode(string text, long expected)
    {
        var method = Method(nameof(IPrimitives.Mixed));
        var args = method.DecodeArgs(Encoding.UTF8.GetBytes(text.Replace("]", ",\"s\"]", StringComparison.Ordinal)), ComponentJson.Default);
        Assert.Equal(expected, args[0]);
        Assert.Equal(12L, Method(nameof(IPrimitives.Longs)).DecodeResult(" 12 "u8, ComponentJson.Default));
    }

    [Theory]
    [InlineData("[05]")]
    [InlineData("[+5]")]
    [InlineData("[-0,1,1,1,1,1,1,1,true,9]")]
    [InlineData("[9223372036854775808,1,1,1,1,1,1,1,true]")]
    [InlineData("[1,1,1,1,1,1,1,1,1]")]
    [InlineData("[1,1,1,1,1,1,1,1,true")]
    [InlineData("[1,1,1,1,1,1,1,1,true]x")]
    public void Text_the_serializer_refuses_is_refused_with_the_usual_error(string text)
    {
        var method = Method(nameof(IPrimitives.Longs));
        var e = Assert.Throws<ArgumentException>(() => method.DecodeArgs(Encoding.UTF8.GetBytes(text), ComponentJson.Default));
        Assert.Contains("could not be decoded", e.Message);
    }

    [Fact]
    public void Settings_with_their_own_number_handling_take_the_serializer()
    {
        var json = new JsonSerializerOptions(ComponentJson.Default) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.WriteAsString | System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString };
        var method = Method(nameof(IPrimitives.Flag));
        var longs = Method(nameof(IPrimitives.Longs));
        Assert.Equal("\"5\"", Encoding.UTF8.GetString(longs.EncodeResult(5L, json)));
        Assert.Equal(5L, longs.DecodeResult("\"5\""u8, json));
        Assert.Equal("true", Encoding.UTF8.GetString(method.EncodeResult(true, json)));
    }

    private static byte[] SerializerArray(ComponentMethod method, object?[] args)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            for (var i = 0; i < args.Length; i++) JsonSerializer.Serialize(w, args[i], method.ParameterTypes[i], ComponentJson.Default);
            w.WriteEndArray();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
