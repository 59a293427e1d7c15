using Bank;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

public sealed class ComponentDefinitionTests
{
    [Fact]
    public void A_method_that_is_not_async_is_refused_with_the_fix()
    {
        var e = Assert.Throws<ComponentDefinitionException>(() => new ComponentRegistry().Add<IBadReturn, BadReturn>());
        Assert.Contains("IBadReturn.NotAsync returns Int32", e.Message);
        Assert.Contains("Task<Int32>", e.Message);
    }

    [Fact]
    public void Overloads_are_refused()
    {
        var e = Assert.Throws<ComponentDefinitionException>(() => new ComponentRegistry().Add<IOverloaded, Overloaded>());
        Assert.Contains("IOverloaded.A is overloaded", e.Message);
    }

    [Fact]
    public void A_state_type_that_cannot_be_serialized_is_refused()
    {
        var e = Assert.Throws<ComponentDefinitionException>(() => new ComponentRegistry().Add<IBadState, BadState>());
        Assert.Contains("UnserializableState", e.Message);
        Assert.Contains("cannot be serialized", e.Message);
    }

    [Fact]
    public void Type_names_come_from_the_interface()
    {
        var registry = new ComponentRegistry().AddAssembly(typeof(Account).Assembly);
        Assert.Equal(typeof(Account), registry.Get("Account").GrainType);
        Assert.True(registry.Get("Account").Methods["Balance"].IsReadOnly);
        Assert.False(registry.Get("Account").Methods["Deposit"].IsReadOnly);
    }

    [Fact]
    public void Component_ids_parse_and_print_as_type_slash_key()
    {
        var id = ComponentId.Parse("Account/a/b");
        Assert.Equal("Account", id.Type);
        Assert.Equal("a/b", id.Key);
        Assert.Equal("Account/a/b", id.ToString());
        Assert.Throws<FormatException>(() => ComponentId.Parse("nokey"));
    }

    [Fact]
    public async Task A_component_can_be_unit_tested_without_a_host()
    {
        var account = ComponentTesting.Create<Account, AccountState>();
        Assert.Equal(50, await account.Deposit(50));
        await Assert.ThrowsAsync<InsufficientFundsException>(() => account.Withdraw(80));
        Assert.Equal(1, ComponentTesting.StateOf(account).Operations);
        Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), ComponentTesting.StateOf(account).LastChangeUtc);
    }
}
