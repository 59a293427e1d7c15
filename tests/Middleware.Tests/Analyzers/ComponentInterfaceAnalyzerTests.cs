using Middleware.Analyzers;
using Middleware.Core;
using static Middleware.Tests.Analyzers.AnalyzerVerifier;

namespace Middleware.Tests.Analyzers;

public sealed class ComponentInterfaceAnalyzerTests
{
    private const string Usings = """
        using System;
        using System.Collections.Generic;
        using System.IO;
        using System.Threading;
        using System.Threading.Tasks;
        using Middleware.Grains;

        """;

    [Fact]
    public async Task Return_types_other_than_Task_are_errors_that_name_the_Task_to_use() =>
        await Analyze<ComponentInterfaceAnalyzer>(Usings + """
            public interface IShop : IRecoverableComponent
            {
                {|#0:ValueTask<int>|} Count();
                {|#1:ValueTask|} Clear();
                {|#2:void|} Ping();
                {|#3:IAsyncEnumerable<string>|} Items();
                {|#4:int|} Total();
                {|#5:Task<Stream>|} Export();
                Task Ok();
                Task<IReadOnlyList<string>> AlsoOk(byte[] data, ReadOnlyMemory<byte> more);
            }
            """,
            At(Rules.ReturnType, 0).WithMessage("IShop.Count returns ValueTask<int>; component methods must return Task or Task<T>: change it to Task<int>"),
            At(Rules.ReturnType, 1).WithMessage("IShop.Clear returns ValueTask; component methods must return Task or Task<T>: change it to Task"),
            At(Rules.ReturnType, 2).WithMessage("IShop.Ping returns void; component methods must return Task or Task<T>: change it to Task"),
            At(Rules.ReturnType, 3).WithMessage("IShop.Items returns IAsyncEnumerable<string>; component methods must return Task or Task<T>: streams are not recorded turn by turn: return a page instead, for example Task<IReadOnlyList<string>>"),
            At(Rules.ReturnType, 4).WithMessage("IShop.Total returns int; component methods must return Task or Task<T>: for example Task<int>"),
            At(Rules.ReturnType, 5).WithMessage("IShop.Export returns Task<Stream>, a Stream, which cannot be recorded in the log or sent again on a retry. Fix: return the bytes as byte[] or ReadOnlyMemory<byte> (or store large content elsewhere and return a reference to it)."));

    [Fact]
    public async Task Overloads_are_errors_within_an_interface_and_across_its_bases() =>
        await Analyze<ComponentInterfaceAnalyzer>(Usings + """
            public interface IBase : IRecoverableComponent { Task Add(int n); }
            public interface ICart : IBase
            {
                Task {|#0:Add|}(string sku);
                Task Remove(string sku);
                Task {|#1:Remove|}(string sku, int n);
            }
            """,
            At(Rules.Overload, 0).WithMessage("ICart.Add is overloaded; component methods are identified by name in the log, so give each overload its own name"),
            At(Rules.Overload, 1));

    [Fact]
    public async Task Parameters_that_are_not_recordable_values_are_errors_naming_the_parameter_and_the_fix() =>
        await Analyze<ComponentInterfaceAnalyzer>(Usings + """
            public interface IFiles : IRecoverableComponent
            {
                Task A(ref int {|#0:n|});
                Task B(out int {|#1:n|});
                Task C(in int {|#2:n|});
                Task D(string name, CancellationToken {|#3:ct|});
                Task E(Stream {|#4:body|});
                Task F(Action {|#5:callback|});
                Task G(IntPtr {|#6:handle|});
                Task H(List<Task> {|#7:work|});
                Task I(byte[] ok, IReadOnlyDictionary<string, long> alsoOk, DateTime when);
            }
            """,
            At(Rules.Parameter, 0).WithMessage("IFiles.A has ref/out/in parameter 'n'; component arguments travel by value, so pass it by value and return a result instead"),
            At(Rules.Parameter, 1),
            At(Rules.Parameter, 2),
            At(Rules.Parameter, 3).WithMessage("IFiles.D takes a CancellationToken ('ct'); turns run to completion once started, so remove the parameter (callers cancel their wait with the client's per-call token instead)"),
            At(Rules.Parameter, 4).WithMessage("IFiles.E has parameter 'body' of type Stream, a Stream, which cannot be recorded in the log or sent again on a retry. Fix: pass the bytes as byte[] or ReadOnlyMemory<byte> (or store large content elsewhere and pass a reference to it)."),
            At(Rules.Parameter, 5).WithMessage("IFiles.F has parameter 'callback' of type Action, a delegate (code), which cannot be recorded as data. Fix: pass a plain data type instead (numbers, strings, records, arrays, lists and dictionaries of them)."),
            At(Rules.Parameter, 6).WithMessage("IFiles.G has parameter 'handle' of type IntPtr, a pointer, which means nothing in another process or after a restart. Fix: pass a plain data type instead (numbers, strings, records, arrays, lists and dictionaries of them)."),
            At(Rules.Parameter, 7).WithMessage("IFiles.H has parameter 'work' of type List<Task>, a List<T> of Task, a task, which is a running operation rather than a value. Fix: pass a plain data type instead (numbers, strings, records, arrays, lists and dictionaries of them)."));

    [Fact]
    public async Task Properties_events_and_generic_methods_are_errors() =>
        await Analyze<ComponentInterfaceAnalyzer>(Usings + """
            public interface ICounter : IRecoverableComponent
            {
                int {|#0:Value|} { get; }
                event EventHandler {|#1:Changed|};
                Task<T> {|#2:Get|}<T>();
                Task Bump();
            }
            """,
            At(Rules.InterfaceMember, 0).WithMessage("ICounter declares property Value; component interfaces may only declare async methods. Fix: make it a method (for example Task<T> GetValue())."),
            At(Rules.InterfaceMember, 1),
            At(Rules.InterfaceMember, 2).WithMessage("ICounter.Get is generic; component methods cannot be generic because the log must name concrete argument types"));

    [Fact]
    public async Task Interfaces_that_are_not_components_are_not_checked() =>
        await Analyze<ComponentInterfaceAnalyzer>(Usings + """
            public interface IPlain { ValueTask<int> Count(CancellationToken ct); void Ping(); Task Add(int n); Task Add(string s); }
            """);

    /// <summary>The analyzer and the runtime's registration check say the same thing about the same interface.</summary>
    [Theory]
    [InlineData("ValueTask<int> M();")]
    [InlineData("void M();")]
    [InlineData("IAsyncEnumerable<string> M();")]
    [InlineData("Task<Stream> M();")]
    [InlineData("Task M(ref int n);")]
    [InlineData("Task M(CancellationToken token);")]
    [InlineData("Task M(Stream body);")]
    [InlineData("Task M(Func<int> f);")]
    [InlineData("Task M(int n); Task M(string s);")]
    [InlineData("Task M<T>(T item);")]
    public async Task The_analyzer_reports_what_the_runtime_refuses_in_the_same_words(string members)
    {
        var source = Usings + "public interface IThing : IRecoverableComponent { " + members + " }";
        var refused = Assert.Throws<ComponentDefinitionException>(() => ComponentInterface.MethodsOf(Load(source).GetType("IThing")!, grainType: null));
        var diagnostics = await Diagnostics(source, new ComponentInterfaceAnalyzer());
        Assert.Contains(diagnostics, d => refused.Message.StartsWith(d.GetMessage(), StringComparison.Ordinal));
    }
}
