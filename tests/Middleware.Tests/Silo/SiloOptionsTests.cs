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
        var options = Read("--checkpoint-every", "50", "--checkpoint-interval-ms", "1500", "--checkpoint-spread", "0.25", "--max-batch-size", "64");
        Assert.Equal(50, options.Runtime.CheckpointEveryTurns);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), options.Runtime.CheckpointInterval);
        Assert.Equal(0.25, options.Runtime.CheckpointSpread);
        Assert.Equal(1.0, Read().Runtime.CheckpointSpread);
        Assert.Contains("not a number", Assert.Throws<SiloOptionsException>(() => Read("--checkpoint-spread", "half")).Message);
        Assert.Equal(64, options.Runtime.MaxBatchSize);
    }

    [Fact]
    public void Rebalancing_rate_and_leave_timeout_are_read_and_a_negative_one_is_refused_naming_the_fix()
    {
        Assert.Equal(50, Read().RebalancePerSecond);
        Assert.Equal(TimeSpan.FromSeconds(10), Read().LeaveTimeout);
        var options = Read("--rebalance-per-second", "0", "--leave-timeout-ms", "2500");
        Assert.Equal(0, options.RebalancePerSecond);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), options.LeaveTimeout);
        var rate = Assert.Throws<SiloOptionsException>(() => Read("--rebalance-per-second", "-1"));
        Assert.Contains("MIDDLEWARE_REBALANCE_PER_SECOND", rate.Message);
        Assert.Contains("0 to turn rebalancing off", rate.Message);
        var leave = Assert.Throws<SiloOptionsException>(() => Read("--leave-timeout-ms", "-5"));
        Assert.Contains("--leave-timeout-ms", leave.Message);
    }

    [Theory]
    [InlineData("--checkpoint-every", "0", "MIDDLEWARE_CHECKPOINT_EVERY")]
    [InlineData("--checkpoint-interval-ms", "0", "MIDDLEWARE_CHECKPOINT_INTERVAL_MS")]
    [InlineData("--checkpoint-spread", "2", "MIDDLEWARE_CHECKPOINT_SPREAD")]
    [InlineData("--max-batch-size", "0", "MIDDLEWARE_MAX_BATCH_SIZE")]
    public void An_engine_value_out_of_range_is_refused_under_the_silo_setting_names(string option, string value, string variable)
    {
        var options = Read("--components", "x.dll", option, value);
        var e = Assert.Throws<SiloOptionsException>(options.Validate);
        Assert.Contains(option, e.Message);
        Assert.Contains(variable, e.Message);
        Assert.DoesNotContain("RuntimeOptions", e.Message);
    }

    [Fact]
    public void Keys_come_per_role_from_files_and_the_cluster_key_fills_the_roles_without_one()
    {
        var dir = Directory.CreateTempSubdirectory("mw-keys-").FullName;
        try
        {
            var clientFile = Path.Combine(dir, "client.key");
            File.WriteAllText(clientFile, "client-secret\n");
            var clusterFile = Path.Combine(dir, "cluster.key");
            File.WriteAllText(clusterFile, "shared-secret\r\n");
            var options = Read("--components", "x.dll", "--client-key-file", clientFile, "--cluster-key-file", clusterFile);
            options.Validate();
            Assert.Equal(("client-secret", "shared-secret", "shared-secret"), (options.EffectiveClientKey, options.EffectiveSiloKey, options.EffectiveAdminKey));
            Assert.True(options.TransportOptions().Keys.Enforced);

            var both = Assert.Throws<SiloOptionsException>(() => Read("--client-key", "x", "--client-key-file", clientFile));
            Assert.Contains("--client-key-file", both.Message);
            Assert.Contains("one way only", both.Message);
            var missing = Assert.Throws<SiloOptionsException>(() => Read("--admin-key-file", Path.Combine(dir, "nope.key")));
            Assert.Contains("MIDDLEWARE_ADMIN_KEY_FILE", missing.Message);
            File.WriteAllText(Path.Combine(dir, "empty.key"), "\n");
            Assert.Contains("is empty", Assert.Throws<SiloOptionsException>(() => Read("--silo-key-file", Path.Combine(dir, "empty.key"))).Message);

            // A client key alone would leave the silos unable to prove themselves to each other.
            var noSiloKey = Assert.Throws<SiloOptionsException>(Read("--components", "x.dll", "--client-key-file", clientFile).Validate);
            Assert.Contains("--silo-key", noSiloKey.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Only_a_silo_without_any_key_bound_beyond_loopback_is_warned_about()
    {
        Assert.Null(Read("--components", "x.dll").OpenToNetworkWarning());
        Assert.Contains("SECURITY", Read("--components", "x.dll", "--address", "0.0.0.0").OpenToNetworkWarning());
        Assert.Null(Read("--components", "x.dll", "--address", "0.0.0.0", "--cluster-key", "k").OpenToNetworkWarning());
    }
}
