using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Middleware.Bench.Micro;

/// <summary>
/// The default micro job: short (3 warm-ups, 5 iterations) and in-process, so the whole suite takes a few
/// minutes and BenchmarkDotNet does not generate and build a separate project against this repo's
/// warnings-as-errors and central package settings.
/// </summary>
public static class MicroConfig
{
    public static IConfig Create() =>
        DefaultConfig.Instance
            .AddJob(Job.ShortRun
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(3)
                .WithIterationCount(5)
                .WithId("short-inproc"))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithOptions(ConfigOptions.JoinSummary)
            .WithArtifactsPath(ArtifactsPath());

    // Reports go beside the load results when run from the repo root, not into whatever the current directory is.
    private static string ArtifactsPath() =>
        Directory.Exists(Path.Combine("bench", "results"))
            ? Path.Combine("bench", "results", "micro")
            : Path.Combine(Directory.GetCurrentDirectory(), "BenchmarkDotNet.Artifacts");
}
