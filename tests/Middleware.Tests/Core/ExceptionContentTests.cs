using System.Text;
using System.Text.Json.Serialization;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Tests.Support;

namespace Middleware.Tests.Core;

/// <summary>What of an exception is recorded, and how the caller's exception gets it back.</summary>
public sealed class ExceptionContentTests
{
    private static string Captured(Exception e) => Encoding.UTF8.GetString(ExceptionContent.Capture(e, ComponentJson.Default));

    private static T RoundTrip<T>(Exception e)
        where T : Exception => Assert.IsType<T>(ReplyDecoder.ToException(ComponentReply.FromException(e)));

    [Fact]
    public void Data_properties_are_captured_as_canonical_json_without_exception_members_or_runtime_handles()
    {
        var e = new LimitException("limit 5 refused")
        {
            Limit = 5.5m,
            Until = new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc),
            Counts = new Dictionary<string, int> { ["z"] = 26, ["a"] = 1 },
            Tag = "object-typed: left out",
            Pending = Task.CompletedTask,
            HelpLink = "https://example.org",
            Source = "left out",
        };

        // Keys in ordinal order at every level (the dictionary was filled z first); Tag, Pending, Token and Exception's own members absent.
        Assert.Equal("""{"Counts":{"a":1,"z":26},"Limit":5.5,"Until":"2030-01-02T03:04:05Z"}""", Captured(e));
        Assert.Equal(ExceptionContent.Capture(e, ComponentJson.Default), ExceptionContent.Capture(e, ComponentJson.Default));
    }

    [Fact]
    public void An_exception_without_data_captures_nothing_and_null_values_are_left_out()
    {
        Assert.Empty(ExceptionContent.Capture(new InvalidOperationException("x"), ComponentJson.Default));
        Assert.Equal("""{"Account":"a","Balance":1,"Hints":[],"Requested":2}""", Captured(new OverdraftException("a", 1, 2)));
        Assert.Empty(ExceptionContent.Capture(new ArgumentException("no parameter name"), ComponentJson.Default));
    }

    [Fact]
    public void Constructor_parameters_named_like_the_properties_and_init_setters_rebuild_the_data()
    {
        var back = RoundTrip<OverdraftException>(new OverdraftException("acct-7", 10, 50) { Hints = ["deposit first"] });
        Assert.Equal(("acct-7", 10L, 50L), (back.Account, back.Balance, back.Requested));
        Assert.Equal(["deposit first"], back.Hints);
        Assert.Equal("acct-7 holds 10; 50 was asked", back.Message);
    }

    [Fact]
    public void Public_setters_rebuild_the_data_after_the_message_constructor()
    {
        var back = RoundTrip<LimitException>(new LimitException("no") { Limit = 3, Until = new DateTime(2031, 5, 6, 0, 0, 0, DateTimeKind.Utc), Counts = new() { ["k"] = 2 } });
        Assert.Equal(("no", 3m, new DateTime(2031, 5, 6, 0, 0, 0, DateTimeKind.Utc)), (back.Message, back.Limit, back.Until));
        Assert.Equal(2, back.Counts["k"]);
        Assert.Null(back.Tag);
    }

    [Fact]
    public void A_json_constructor_is_preferred_and_the_recorded_message_is_kept()
    {
        var back = RoundTrip<CodedException>(new CodedException(42, "detail"));
        Assert.Equal((42, "detail"), (back.Code, back.Detail));
        Assert.Equal("code 42: detail", back.Message);
        Assert.True(back.ViaJsonConstructor);

        // A constructor that makes another message: the caller still reads the recorded one.
        var reply = new ComponentReply(ReadOnlyMemory<byte>.Empty, typeof(RenamedException).FullName, "recorded text") { ErrorData = """{"Count":7}"""u8.ToArray() };
        var renamed = Assert.IsType<RenamedException>(ReplyDecoder.ToException(reply));
        Assert.Equal((7, "recorded text"), (renamed.Count, renamed.Message));
    }

    [Fact]
    public void Framework_exceptions_keep_their_message_and_parameter()
    {
        // The message, which names the parameter, is exact: a type that composes its message gets the constructor that reproduces it.
        var argument = RoundTrip<ArgumentOutOfRangeException>(new ArgumentOutOfRangeException("amount", -5, "must be positive"));
        Assert.Equal(new ArgumentOutOfRangeException("amount", -5, "must be positive").Message, argument.Message);
        var nulls = RoundTrip<ArgumentNullException>(new ArgumentNullException("key"));
        Assert.Equal((new ArgumentNullException("key").Message, "key"), (nulls.Message, nulls.ParamName));
        Assert.Equal("refused", RoundTrip<InvalidOperationException>(new InvalidOperationException("refused")).Message);
    }

    [Fact]
    public void An_unknown_type_arrives_as_a_component_fault_with_its_data_and_a_fenced_id_as_its_own_type()
    {
        var unknown = new ComponentReply(ReadOnlyMemory<byte>.Empty, "Elsewhere.GoneException", "gone") { ErrorData = """{"Id":3}"""u8.ToArray() };
        var fault = Assert.IsType<ComponentFaultException>(ReplyDecoder.ToException(unknown));
        Assert.Equal(("Elsewhere.GoneException", "gone", """{"Id":3}"""), (fault.ErrorType, fault.ErrorMessage, fault.ErrorData));

        var fenced = ReplyDecoder.ToException(RequestOutcome.FencedReply(new ComponentId("Account", "a"), "s:9"));
        Assert.Contains("s:9", Assert.IsType<RequestFencedException>(fenced).Message);
    }

    [Fact]
    public void Replies_compare_their_data_but_an_error_recorded_without_data_matches_any()
    {
        var now = ComponentReply.FromException(new OverdraftException("a", 1, 2));
        var other = ComponentReply.FromException(new OverdraftException("a", 1, 2) { Hints = ["x"] });
        Assert.True(now.SameAs(ComponentReply.FromException(new OverdraftException("a", 1, 2))));
        Assert.False(now.SameAs(other with { ErrorMessage = now.ErrorMessage }));
        var legacy = new ComponentReply(ReadOnlyMemory<byte>.Empty, now.ErrorType, now.ErrorMessage);
        Assert.True(legacy.SameAs(now));
        Assert.True(now.SameAs(legacy));
    }
}

public sealed class CodedException : Exception
{
    public CodedException(int code, string detail)
        : base($"code {code}: {detail}")
    {
        Code = code;
        Detail = detail;
    }

    [JsonConstructor]
    private CodedException(int code, string detail, string message)
        : base(message)
    {
        Code = code;
        Detail = detail;
        ViaJsonConstructor = true;
    }

    public int Code { get; }

    public string Detail { get; }

    [JsonIgnore]
    public bool ViaJsonConstructor { get; }
}

public sealed class RenamedException(int count) : Exception($"{count} things")
{
    public int Count { get; } = count;
}
