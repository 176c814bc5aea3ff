using MInference.Kernels.Cuda.Transfer;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>The policy of <see cref="StagingBufferPool{TBuffer}"/> (no GPU: fake buffers that record their disposal).</summary>
public sealed class TransferStagingPoolTests
{
    private const long MiB = 1L << 20;

    /// <summary>A returned buffer serves the next rent that fits; a miss allocates the rounded-up size.</summary>
    [Fact]
    public void A_returned_buffer_is_reused_by_the_next_rent_that_fits()
    {
        using var pool = NewPool(maxIdleBuffers: 4, maxIdleBytes: 64 * MiB);

        var first = pool.Rent(3 * MiB);
        pool.Return(first);
        var second = pool.Rent(4 * MiB);

        Assert.Same(first, second);
        Assert.Equal(4 * MiB, first.Capacity);
        Assert.Equal(1, pool.Allocations);
        Assert.Equal(1, pool.Reuses);
        Assert.False(first.Disposed);
    }

    /// <summary>A rent larger than every idle buffer allocates a new one and leaves the small one idle.</summary>
    [Fact]
    public void A_larger_rent_allocates_and_keeps_the_smaller_idle()
    {
        using var pool = NewPool(maxIdleBuffers: 4, maxIdleBytes: 64 * MiB);
        var small = pool.Rent(2 * MiB);
        pool.Return(small);

        var large = pool.Rent(10 * MiB);

        Assert.NotSame(small, large);
        Assert.Equal(2, pool.Allocations);
        Assert.Equal(2 * MiB, pool.IdleBytes);
    }

    /// <summary>Over the idle-buffer or idle-byte limit the smallest idle buffers are freed at once.</summary>
    [Fact]
    public void Beyond_its_limits_the_pool_frees_the_smallest_idle_buffers()
    {
        using var pool = NewPool(maxIdleBuffers: 2, maxIdleBytes: 12 * MiB);
        var a = pool.Rent(2 * MiB);
        var b = pool.Rent(4 * MiB);
        var c = pool.Rent(8 * MiB);

        pool.Return(a);
        pool.Return(b);
        pool.Return(c);

        Assert.True(a.Disposed, "the smallest buffer was kept beyond two idle buffers");
        Assert.False(b.Disposed);
        Assert.False(c.Disposed);
        Assert.Equal(12 * MiB, pool.IdleBytes);

        var huge = pool.Rent(16 * MiB);
        pool.Return(huge);
        Assert.True(huge.Disposed, "a buffer larger than the idle-byte limit was kept");
    }

    /// <summary>Dispose frees the idle buffers; a buffer returned afterwards is freed instead of kept.</summary>
    [Fact]
    public void Dispose_frees_idle_buffers_and_later_returns()
    {
        var pool = NewPool(maxIdleBuffers: 4, maxIdleBytes: 64 * MiB);
        var idle = pool.Rent(MiB);
        var rented = pool.Rent(MiB);
        pool.Return(idle);

        pool.Dispose();
        pool.Return(rented);

        Assert.True(idle.Disposed);
        Assert.True(rented.Disposed);
        Assert.Throws<ObjectDisposedException>(() => pool.Rent(MiB));
    }

    private static StagingBufferPool<FakeBuffer> NewPool(int maxIdleBuffers, long maxIdleBytes)
        => new(bytes => new FakeBuffer(bytes), buffer => buffer.Capacity, maxIdleBuffers, maxIdleBytes);

    private sealed class FakeBuffer(long capacity) : IDisposable
    {
        public long Capacity => capacity;

        public bool Disposed { get; private set; }

        public void Dispose()
        {
            Assert.False(Disposed, "a staging buffer was freed twice");
            Disposed = true;
        }
    }
}
