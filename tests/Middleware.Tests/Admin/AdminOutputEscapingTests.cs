using System.Text.Json;
using Bank;
using Middleware.Recovery.Runtime;

namespace Middleware.Tests.Admin;

/// <summary>
/// Keys, request ids and reasons come from the network: in tables and lines for people their control characters are
/// escaped (a newline cannot forge a row, an escape sequence cannot repaint the terminal), while JSON keeps them exact.
/// </summary>
public sealed class AdminOutputEscapingTests : IDisposable
{
    private const string EvilKey = "k\n│ forged │ row\u001b[2J\u001b[31m\u202e";
    private const string EvilRequest = "r\r\nmw: forged";
    private readonly AdminFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    private Task WriteEvilAsync() => _fx.WriteAsync(new ComponentRegistry().Add<IAccount, Account>(), 1000, async rt =>
    {
        await rt.Call<IAccount>(EvilKey, EvilRequest).Deposit(5);
        await rt.Call<IAccount>("plain", "p1").Deposit(7);
    });

    private static void AssertNoRawControl(string text)
    {
        foreach (var c in text)
        {
            Assert.False(c is (< ' ' and not '\n') or '\u007f' or (>= '\u0080' and <= '\u009f') or '\u202e', $"raw U+{(int)c:X4} in:\n{text}");
        }
    }

    [Fact]
    public async Task A_key_with_a_newline_and_escape_sequences_is_one_escaped_row_in_components_list()
    {
        await WriteEvilAsync();
        var run = await _fx.MwOnStore("components", "list");
        Assert.True(run.Code == 0, run.Err);
        AssertNoRawControl(run.Out);
        var rows = run.Out.Split('\n').Where(l => l.StartsWith('│')).ToList();
        Assert.Equal(3, rows.Count); // the header and two components
        var evil = Assert.Single(rows, r => r.Contains("forged", StringComparison.Ordinal));
        Assert.Contains("Account/k\\n│ forged │ row\\x1b[2J\\x1b[31m\\u202e", evil, StringComparison.Ordinal);
        Assert.DoesNotContain(run.Out.Split('\n'), l => l.StartsWith("│ forged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Json_output_keeps_the_key_exact()
    {
        await WriteEvilAsync();
        var run = await _fx.MwOnStore("components", "list", "--json");
        Assert.True(run.Code == 0, run.Err);
        var ids = JsonDocument.Parse(run.Out).RootElement.GetProperty("components").EnumerateArray().Select(c => c.GetProperty("id").GetString()).ToList();
        Assert.Contains("Account/" + EvilKey, ids);
    }

    [Fact]
    public async Task The_log_outcome_and_audit_of_that_component_escape_it_too()
    {
        await WriteEvilAsync();
        var id = "Account/" + EvilKey;
        foreach (var args in new[]
        {
            new[] { "components", "show", id },
            new[] { "log", id },
            new[] { "outcome", EvilRequest, "--component", id },
            new[] { "outcome", EvilRequest },
            new[] { "audit", id, "--components", AdminFixture.BankDll },
            new[] { "state", id, "--components", AdminFixture.BankDll },
        })
        {
            var run = await _fx.MwOnStore(args);
            Assert.True(run.Code == 0, $"{args[0]}: {run.Err}");
            AssertNoRawControl(run.Out);
            AssertNoRawControl(run.Err);
            Assert.DoesNotContain(run.Out.Split('\n'), l => l.StartsWith("│ forged", StringComparison.Ordinal) || l.StartsWith("mw: forged", StringComparison.Ordinal));
        }

        var outcome = await _fx.MwOnStore("outcome", EvilRequest, "--component", id);
        Assert.Contains("r\\r\\nmw: forged on Account/k\\n│ forged", outcome.Out, StringComparison.Ordinal);
    }
}
