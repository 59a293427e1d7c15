using Middleware.TestComponents;

namespace Middleware.Tests.Support;

/// <summary>
/// A <see cref="PeerGates"/> gate for turns in silo processes (<c>file:PATH</c>): the test sees how many turns reached
/// it (each holds its component there) and opens it when what it waits for has happened, instead of giving the turn a
/// fixed delay and hoping the box is fast enough. Dispose after the silos, so a replay still finds it open.
/// </summary>
internal sealed class SiloGate : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mw-gate-").FullName;

    /// <summary>The name to give a Peer method's gate argument.</summary>
    public string Name => PeerGates.FilePrefix + Path.Combine(_directory, "open");

    /// <summary>How many turns reached the gate (replays included).</summary>
    public int Arrived => Directory.GetFiles(_directory, "open.arrived.*").Length;

    /// <summary>Returns once <paramref name="count"/> turns hold their component at the gate.</summary>
    public Task WaitArrivedAsync(int count, string what, TimeSpan? patience = null) =>
        Eventually.TrueAsync(() => Arrived >= count, what, patience);

    /// <summary>Lets every turn at the gate go on, and later ones pass.</summary>
    public void Open() => File.WriteAllText(Path.Combine(_directory, "open"), "");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory left behind is harmless.
        }
    }
}
