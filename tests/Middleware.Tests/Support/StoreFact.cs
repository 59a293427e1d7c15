using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Middleware.Tests.Support;

/// <summary>
/// A fact that is skipped, with the reason printed, when its test class needs a store this run does not have
/// (see <see cref="StoreRequirementAttribute"/>). xunit 2 decides skipping at discovery time and takes the
/// attribute from the method's declaring class, so the shared contract suite uses this attribute: the
/// discoverer looks at the concrete subclass, and the SQL Server subclass skips while the SQLite one runs.
/// A class without a requirement runs its store facts like plain facts.
/// </summary>
[XunitTestCaseDiscoverer("Middleware.Tests.Support.StoreFactDiscoverer", "Middleware.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoreFactAttribute : FactAttribute;

/// <summary>Marks a test class whose store facts need an external store; gives the skip reason when it is absent.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
public abstract class StoreRequirementAttribute : Attribute
{
    /// <summary>Why the tests cannot run in this environment, or null when they can.</summary>
    public abstract string? SkipReason { get; }

    /// <summary>The first skip reason among the requirements of <paramref name="testClass"/>, or null.</summary>
    public static string? SkipReasonFor(Type? testClass) =>
        testClass?.GetCustomAttributes<StoreRequirementAttribute>(inherit: true).Select(a => a.SkipReason).FirstOrDefault(r => r is not null);
}

/// <summary>The class needs a real PostgreSQL (started by <see cref="PostgresServer"/>); skipped only when MIDDLEWARE_SKIP_POSTGRES=1.</summary>
public sealed class RequiresPostgresAttribute : StoreRequirementAttribute
{
    /// <inheritdoc />
    public override string? SkipReason => PostgresServer.SkipReason;
}

/// <summary>The class needs a SQL Server given by MIDDLEWARE_TEST_SQLSERVER; skipped when that is unset.</summary>
public sealed class RequiresSqlServerAttribute : StoreRequirementAttribute
{
    /// <summary>The variable that holds the SQL Server connection string of the tests.</summary>
    public const string Variable = "MIDDLEWARE_TEST_SQLSERVER";

    /// <summary>The connection string, or null when the tests must skip.</summary>
    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } s ? s : null;

    /// <inheritdoc />
    public override string? SkipReason => ConnectionString is null
        ? $"SQL Server tests need a server: set {Variable} to a SqlClient connection string (e.g. \"Server=localhost;User ID=sa;Password=...;TrustServerCertificate=true\"); no SQL Server runs on this machine."
        : null;
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
