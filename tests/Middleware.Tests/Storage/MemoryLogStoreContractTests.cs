using Middleware.Recovery.Storage;

namespace Middleware.Tests.Storage;

/// <summary>The storage contract against the in-memory reference store (nothing survives a reopen there).</summary>
public sealed class MemoryLogStoreContractTests : LogStoreContract
{
    protected override Task<ILogStore> CreateStoreAsync() => Task.FromResult<ILogStore>(new MemoryLogStore());
}
