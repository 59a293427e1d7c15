using Middleware.Tests.Silo;
using Middleware.Tests.Support;

namespace Middleware.Tests.Tls;

internal static class SiloOutput
{
    /// <summary>Waits until the silo has written <paramref name="text"/> to stdout or stderr; log lines are written asynchronously.</summary>
    public static async Task WaitForOutputAsync(this SiloProcess silo, string text)
    {
        try
        {
            await Eventually.TrueAsync(() => (silo.Stdout + silo.Stderr).Contains(text, StringComparison.Ordinal), $"{silo.SiloId} to write '{text}'");
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"{e.Message}\nstdout:\n{silo.Stdout}\nstderr:\n{silo.Stderr}");
        }
    }
}
