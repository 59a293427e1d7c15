using Middleware.Core;

namespace Middleware.Tests.Core;

/// <summary>The one escaping rule for text from the network or a store shown to people (mw tables and lines, silo logs).</summary>
public sealed class PrintableTests
{
    [Theory]
    [InlineData("Account/acct-07", "Account/acct-07")]
    [InlineData("grüße/ключ/鍵", "grüße/ключ/鍵")]
    [InlineData("a\nb", "a\\nb")]
    [InlineData("a\r\nb", "a\\r\\nb")]
    [InlineData("tab\there", "tab\\there")]
    [InlineData("\u001b[31mred", "\\x1b[31mred")]
    [InlineData("nul\0", "nul\\x00")]
    [InlineData("del\u007f", "del\\x7f")]
    [InlineData("c1\u0085\u009b", "c1\\x85\\x9b")]
    [InlineData("bidi\u202eevil\u202c", "bidi\\u202eevil\\u202c")]
    [InlineData("iso\u2066x\u2069", "iso\\u2066x\\u2069")]
    [InlineData("line\u2028sep", "line\\u2028sep")]
    [InlineData("back\\slash", "back\\\\slash")]
    public void Control_characters_and_bidi_overrides_are_escaped_and_everything_else_kept(string text, string expected) =>
        Assert.Equal(expected, Printable.Escape(text));

    [Fact]
    public void Clean_text_is_returned_as_is_without_a_copy()
    {
        const string clean = "silo-1 moved Account/a to silo-2";
        Assert.Same(clean, Printable.Escape(clean));
        Assert.Equal("", Printable.Escape(null));
    }
}
