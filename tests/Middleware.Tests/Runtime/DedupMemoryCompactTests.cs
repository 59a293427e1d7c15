using Middleware.Core;
using Middleware.Recovery.Runtime;

namespace Middleware.Tests.Runtime;

/// <summary>
/// A replayed turn's reply is decoded as a slice of its record's payload; the dedup memory keeps a copy of just the reply,
/// so a remembered turn does not hold the whole payload until the next checkpoint (an activation evicted with a log tail
/// keeps the tail's replies).
/// </summary>
public sealed class DedupMemoryCompactTests
{
    [Fact]
    public async Task A_reply_sliced_from_a_payload_is_remembered_as_its_own_bytes()
    {
        var payload = new byte[512];
        for (var i = 0; i < payload.Length; i++) payload[i] = (byte)i;
        var sliced = new ComponentReply(payload.AsMemory(100, 8));
        var memory = new DedupMemory();
        memory.Add("r1", 1, 42, sliced);

        var kept = memory.SinceCheckpoint[0].Reply;
        Assert.Equal(payload.AsSpan(100, 8).ToArray(), kept.Result.ToArray());
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(kept.Result, out var segment));
        Assert.Equal(8, segment.Array!.Length);
        Assert.True(memory.Recent.TryGetValue("r1", out var slot));
        Assert.Same(kept, await slot.Reply);

        // A reply that is its whole array already, and an empty one, are kept as they are.
        var whole = new ComponentReply(new byte[] { 1, 2, 3 });
        Assert.Same(whole, DedupMemory.Compact(whole));
        Assert.Same(ComponentReply.Void, DedupMemory.Compact(ComponentReply.Void));
    }
}
