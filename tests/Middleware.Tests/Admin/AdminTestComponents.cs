using System.Text.Json;
using System.Text.Json.Serialization;
using Middleware.Grains;

namespace Middleware.Tests.Admin;

// Several implementations of one component type ("Till"): logs are written with one and audited with another,
// the way a deploy replaces the code behind recorded logs. Each registry registers exactly one of them.

public interface ITill : IRecoverableComponent
{
    Task<long> Pay(long amount);
}

public sealed class TillState
{
    public long Balance { get; set; }

    public long Count { get; set; }
}

/// <summary>The code the logs were written with.</summary>
public sealed class Till : RecoverableGrain<TillState>, ITill
{
    public Task<long> Pay(long amount)
    {
        State.Balance += amount;
        State.Count++;
        return Task.FromResult(State.Balance);
    }
}

/// <summary>A new release that takes a fee of 1 on every payment: every reply changes.</summary>
public sealed class TillWithFee : RecoverableGrain<TillState>, ITill
{
    public Task<long> Pay(long amount)
    {
        State.Balance += amount - 1;
        State.Count++;
        return Task.FromResult(State.Balance);
    }
}

/// <summary>A release that counts differently: replies are the same, only the state differs.</summary>
public sealed class TillCountingTwice : RecoverableGrain<TillState>, ITill
{
    public Task<long> Pay(long amount)
    {
        State.Balance += amount;
        State.Count += 2;
        return Task.FromResult(State.Balance);
    }
}

public sealed class TillTextState
{
    public string Balance { get; set; } = "";
}

/// <summary>A release whose state type changed incompatibly (a number became text).</summary>
public sealed class TillWithTextState : RecoverableGrain<TillTextState>, ITill
{
    public Task<long> Pay(long amount)
    {
        var balance = (string.IsNullOrEmpty(State.Balance) ? 0 : long.Parse(State.Balance, System.Globalization.CultureInfo.InvariantCulture)) + amount;
        State.Balance = balance.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Task.FromResult(balance);
    }
}

public sealed class LossyTillState
{
    public long Balance { get; set; }

    /// <summary>Written as a number, read back as 0: a converter bug that registration cannot see.</summary>
    [JsonConverter(typeof(ForgetfulCountConverter))]
    public long Count { get; set; }
}

public sealed class ForgetfulCountConverter : JsonConverter<long>
{
    public override long Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        reader.GetInt64();
        return 0;
    }

    public override void Write(Utf8JsonWriter writer, long value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
}

/// <summary>A release whose state type writes the same JSON as <see cref="TillState"/> but loses Count when reading it.</summary>
public sealed class TillWithLossyState : RecoverableGrain<LossyTillState>, ITill
{
    public Task<long> Pay(long amount)
    {
        State.Balance += amount;
        State.Count++;
        return Task.FromResult(State.Balance);
    }
}

/// <summary>
/// Named "Account" like the sample, but pays a bonus: logs written with it do not replay with samples/Bank,
/// which lets the tests drive the real command line (assembly path) into a divergence.
/// </summary>
[ComponentType("Account")]
public interface IBonusAccount : IRecoverableComponent
{
    Task<long> Deposit(long amount);
}

public sealed class BonusAccountState
{
    public long Balance { get; set; }

    public long Operations { get; set; }

    public DateTime LastChangeUtc { get; set; }
}

public sealed class BonusAccount : RecoverableGrain<BonusAccountState>, IBonusAccount
{
    public Task<long> Deposit(long amount)
    {
        State.Balance += amount + 1;
        State.Operations++;
        State.LastChangeUtc = Context.UtcNow;
        return Task.FromResult(State.Balance);
    }
}
