using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// A fact that is skipped, with the reason printed, when its test class needs a store this run does not have
/// (see <see cref="StoreRequirementAttribute"/>). xunit 2 decides skipping at discovery time and takes the
/// attribute from the method's declaring class, so the shared contract suites use this attribute: the
/// discoverer looks at the concrete subclass, and a subclass whose server is absent skips while the others run.
/// A class without a requirement runs its store facts like plain facts. Use it on tests of your own that need
/// the same server as your fixture.
/// </summary>
[XunitTestCaseDiscoverer("Middleware.Recovery.TestKit.StoreFactDiscoverer", "Middleware.Recovery.TestKit")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoreFactAttribute : FactAttribute;

/// <summary>
/// Marks a test class whose store facts need an external store (a database server, a cloud account); gives the skip
/// reason when it is absent. Derive one per server, e.g. <c>RequiresPostgresAttribute</c> whose
/// <see cref="SkipReason"/> is null when a connection string is configured and otherwise says which variable to set.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
public abstract class StoreRequirementAttribute : Attribute
{
    /// <summary>Why the tests cannot run in this environment, or null when they can.</summary>
    public abstract string? SkipReason { get; }

    /// <summary>The first skip reason among the requirements of <paramref name="testClass"/>, or null.</summary>
    public static string? SkipReasonFor(Type? testClass) =>
        testClass?.GetCustomAttributes<StoreRequirementAttribute>(inherit: true).Select(a => a.SkipReason).FirstOrDefault(r => r is not null);
}

/// <summary>Creates <see cref="StoreTestCase"/>s for <see cref="StoreFactAttribute"/> methods.</summary>
public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    /// <inheritdoc />
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        yield return new StoreTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
    }
}

/// <summary>A test case whose skip reason also comes from the store requirements of its concrete test class.</summary>
public sealed class StoreTestCase : XunitTestCase
{
    /// <summary>For the xunit de-serializer only.</summary>
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public StoreTestCase()
    {
    }

    /// <summary>A test case of <paramref name="testMethod"/> as it is declared on its concrete class.</summary>
    public StoreTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    /// <inheritdoc />
    protected override string? GetSkipReason(IAttributeInfo factAttribute) =>
        base.GetSkipReason(factAttribute) ?? StoreRequirementAttribute.SkipReasonFor(TestMethod.TestClass.Class.ToRuntimeType());
}
