using MInference.Kernels.Cuda.Transfer;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>The bytes a CUDA IPC hand-off sends instead of the activation (no GPU needed: these run in CI).</summary>
public sealed class TransferIpcDescriptorTests
{
    /// <summary>Handles, shape and exporter survive encoding into the fixed 144 bytes, and the byte length follows the bf16 shape.</summary>
    [Fact]
    public void Descriptor_round_trips_through_its_fixed_encoding()
    {
        var random = new Random(Random.Shared.Next());
        var memory = new byte[CudaIpcDescriptor.HandleLength];
        var written = new byte[CudaIpcDescriptor.HandleLength];
        random.NextBytes(memory);
        random.NextBytes(written);
        var descriptor = new CudaIpcDescriptor(memory, written, random.NextInt64(1, 1L << 40), random.Next(1, 1 << 16), random.Next());

        var bytes = descriptor.Encode();
        var decoded = CudaIpcDescriptor.Decode(bytes);

        Assert.Equal(CudaIpcDescriptor.EncodedLength, bytes.Length);
        Assert.Equal(memory, decoded.MemoryHandle);
        Assert.Equal(written, decoded.EventHandle);
        Assert.Equal((descriptor.Rows, descriptor.Columns, descriptor.ExporterProcessId), (decoded.Rows, decoded.Columns, decoded.ExporterProcessId));
        Assert.Equal(descriptor.Rows * descriptor.Columns * 2, decoded.ByteLength);
    }

    /// <summary>A truncated descriptor or one with a short handle is refused with a message naming the expected size.</summary>
    [Fact]
    public void Malformed_descriptors_are_refused_naming_the_size()
    {
        var truncated = Assert.Throws<ArgumentException>(() => CudaIpcDescriptor.Decode(new byte[CudaIpcDescriptor.EncodedLength - 1]));
        var shortHandle = Assert.Throws<ArgumentException>(() => new CudaIpcDescriptor(new byte[63], new byte[64], 1, 1, 1).Encode());

        Assert.Contains($"{CudaIpcDescriptor.EncodedLength} bytes", truncated.Message, StringComparison.Ordinal);
        Assert.Contains("64 bytes each", shortHandle.Message, StringComparison.Ordinal);
    }
}
