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
        Assert.Contains("IBadReturn.NotAsync returns int", e.Message);
        Assert.Contains("Task<int>", e.Message);
    }

    public static TheoryData<Type, string[]> UnsupportedSignatures() => new()
    {
        { typeof(IValueTaskReturn), ["IValueTaskReturn.Count returns ValueTask<int>", "change it to Task<int>"] },
        { typeof(IPlainValueTaskReturn), ["IPlainValueTaskReturn.Run returns ValueTask", "change it to Task."] },
        { typeof(IStreamingReturn), ["IStreamingReturn.All returns IAsyncEnumerable<string>", "Task<IReadOnlyList<string>>"] },
        { typeof(IStreamArgument), ["IStreamArgument.Upload has parameter 'content' of type Stream", "byte[] or ReadOnlyMemory<byte>"] },
        { typeof(IStreamResult), ["IStreamResult.Download returns Task<MemoryStream>", "byte[] or ReadOnlyMemory<byte>"] },
        { typeof(ISpanArgument), ["ISpanArgument.Take has parameter 'bytes' of type ReadOnlySpan<byte>", "ref struct", "byte[] or ReadOnlyMemory<byte>"] },
        { typeof(IDelegateArgument), ["IDelegateArgument.OnDone has parameter 'callback' of type Action<int>", "delegate", "Fix:"] },
        { typeof(IHandleArgument), ["IHandleArgument.Attach has parameter 'handle' of type IntPtr", "pointer"] },
        { typeof(ITaskArgument), ["ITaskArgument.Await has parameter 'pending' of type Task<int>", "running operation"] },
        { typeof(IListOfStreams), ["IListOfStreams.Send has parameter 'parts' of type List<Stream>", "Stream"] },
        { typeof(ICancellable), ["ICancellable.Run takes a CancellationToken ('cancellationToken')", "remove the parameter"] },
    };

    [Theory]
    [MemberData(nameof(UnsupportedSignatures))]
    public void Unsupported_parameter_and_return_types_are_refused_naming_method_parameter_and_fix(Type iface, string[] expected)
    {
        var e = Assert.Throws<ComponentDefinitionException>(() => ComponentInterface.Of(iface));
        foreach (var text in expected) Assert.Contains(text, e.Message);
        Assert.DoesNotContain("`", e.Message);
    }

    [Fact]
    public void Bytes_memory_and_plain_data_are_fine()
    {
        var (_, methods) = ComponentInterface.Of(typeof(IFineSignatures));
        Assert.Equal(typeof(ReadOnlyMemory<byte>), methods["Store"].ResultType);
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

public interface IValueTaskReturn : IRecoverableComponent
{
    ValueTask<int> Count();
}

public interface IPlainValueTaskReturn : IRecoverableComponent
{
    ValueTask Run();
}

public interface IStreamingReturn : IRecoverableComponent
{
    IAsyncEnumerable<string> All();
}

public interface IStreamArgument : IRecoverableComponent
{
    Task Upload(string name, Stream content);
}

public interface IStreamResult : IRecoverableComponent
{
    Task<MemoryStream> Download(string name);
}

public interface ISpanArgument : IRecoverableComponent
{
    Task Take(ReadOnlySpan<byte> bytes);
}

public interface IDelegateArgument : IRecoverableComponent
{
    Task OnDone(Action<int> callback);
}

public interface IHandleArgument : IRecoverableComponent
{
    Task Attach(IntPtr handle);
}

public interface ITaskArgument : IRecoverableComponent
{
    Task Await(Task<int> pending);
}

public interface IListOfStreams : IRecoverableComponent
{
    Task Send(List<Stream> parts);
}

public interface ICancellable : IRecoverableComponent
{
    Task Run(int x, CancellationToken cancellationToken);
}

public interface IFineSignatures : IRecoverableComponent
{
    Task<ReadOnlyMemory<byte>> Store(byte[] bytes, ReadOnlyMemory<byte> more, Memory<int> numbers, Dictionary<string, List<int>> map, object? anything, int? maybe);
}
