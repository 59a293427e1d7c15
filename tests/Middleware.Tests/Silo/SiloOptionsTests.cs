using Microsoft.Extensions.Configuration;
using Middleware.Silo;

namespace Middleware.Tests.Silo;

/// <summary>The engine's values are settings of the silo too, read and checked under the silo's own names.</summary>
public sealed class SiloOptionsTests
{
    private static SiloOptions Read(params string[] args) =>
        SiloSettings.Read(new ConfigurationBuilder().AddCommandLine(args, SiloSettings.SwitchMappings()).Build());

    [Fact]
    public void Checkpoint_cadence_and_batch_size_reach_the_runtime_options()
    {
        var options = Read("--checkpoint-every", "50", "--checkpoint-interval-ms", "1500", "--max-batch-size", "64");
        Assert.Equal(50, options.Runtime.CheckpointEveryTurns);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), options.Runtime.CheckpointInterval);
        Assert.Equal(64, options.Runtime.MaxBatchSize);
    }

    [Theory]
    [InlineData("--checkpoint-every", "0", "MIDDLEWARE_CHECKPOINT_EVERY")]
    [InlineData("--checkpoint-interval-ms", "0", "MIDDLEWARE_CHECKPOINT_INTERVAL_MS")]
    [InlineData("--max-batch-size", "0", "MIDDLEWARE_MAX_BATCH_SIZE")]
    public void An_engine_value_out_of_range_is_refused_under_the_silo_setting_names(string option, string value, string variable)
    {
        var options = Read("--components", "x.dll", option, value);
        var e = Assert.Throws<SiloOptionsException>(options.Validate);
        Assert.Contains(option, e.Message);
        Assert.Contains(variable, e.Message);
        Assert.DoesNotContain("RuntimeOptions", e.Message);
    }
}
