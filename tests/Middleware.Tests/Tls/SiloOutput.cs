using Middleware.Tests.Silo;

namespace Middleware.Tests.Tls;

internal static class SiloOutput
{
    /// <summary>Waits (up to 10 s) until the silo has written <paramref name="text"/> to stdout or stderr; log lines are written asynchronously.</summary>
    public static async Task WaitForOutputAsync(this SiloProcess silo, string text)
    {
        var deadline = Environment.TickCount64 + 10_000;
        while (!(silo.Stdout + silo.Stderr).Contains(text, StringComparison.Ordinal))
        {
            if (Environment.TickCount64 > deadline)
                Assert.Fail($"{silo.SiloId} did not write '{text}'.\nstdout:\n{silo.Stdout}\nstderr:\n{silo.Stderr}");
            await Task.Delay(50);
        }
    }
}
