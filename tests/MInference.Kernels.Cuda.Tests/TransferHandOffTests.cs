using MInference.Kernels.Cuda.Transfer;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>Device-to-device hand-off between CUDA backends of one process (<see cref="DeviceHandOff"/>).</summary>
public sealed class TransferHandOffTests(CudaFixture fixture)
{
    /// <summary>Onto the producer's own backend the tensor itself changes hands: same object, nothing copied.</summary>
    [Fact]
    public void Hand_off_onto_the_producers_backend_passes_the_tensor_itself()
    {
        var gpu = fixture.Backend;
        using var handOff = new DeviceHandOff(gpu);
        using var tensor = gpu.Upload(RandomValues(new Random(FreshSeed()), 64 * 32), 64, 32);

        var taken = handOff.Take(gpu, tensor);

        Assert.Same(tensor, taken);
        Assert.Equal(HandOffRoute.Ownership, handOff.RouteFrom(gpu));
        Assert.Equal(0, handOff.CopiedBytes);
    }

    /// <summary>
    /// From a second backend on the same device (its own stream), the copy runs device to device on the
    /// copy stream into a poisoned destination and arrives bit-exact; the source is freed once the copy
    /// finished (its bytes leave the producer's accounting).
    /// </summary>
    [Fact]
    public void Same_device_hand_off_copies_exactly_and_frees_the_source()
        => AssertExactHandOff(forceHostStaging: false, HandOffRoute.SameDevice);

    /// <summary>The pinned-host fallback (taken when peer access is impossible) also arrives bit-exact and frees its source.</summary>
    [Fact]
    public void Host_staged_hand_off_copies_exactly_and_frees_the_source()
        => AssertExactHandOff(forceHostStaging: true, HandOffRoute.HostStaged);

    /// <summary>
    /// Successive host-staged hand-offs of different sizes reuse one pooled pinned buffer (one allocation,
    /// then reuses) and each arrives bit-exact: a reused buffer never leaks the previous chunk's bytes.
    /// </summary>
    [Fact]
    public void Host_staged_hand_offs_reuse_a_pooled_buffer_and_stay_exact()
    {
        var target = fixture.Backend;
        using var producer = CudaBackend.Create(target.Context.Device.Ordinal);
        using var handOff = new DeviceHandOff(target) { ForceHostStaging = true };
        var seed = FreshSeed();
        var random = new Random(seed);
        const int Columns = 128;
        long[] rows = [700, 512, 701, 3];
        foreach (var count in rows)
        {
            var values = RoundToBFloat16(RandomValues(random, count * Columns, scale: 5f));
            var source = (CudaTensor)producer.Upload(values, count, Columns);
            using var destination = (CudaTensor)target.Allocate(count, Columns);
            target.Poison(destination);

            handOff.CopyInto(producer, source, destination);
            var actual = Download(target, destination);
            handOff.Flush();

            for (var i = 0; i < values.Length; i++)
            {
                if (BitConverter.SingleToUInt32Bits(values[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                {
                    Assert.Fail($"seed {seed}: {count} rows, element {i} is {actual[i]}, expected {values[i]}");
                }
            }
        }

        Assert.Equal(1, handOff.StagingAllocations);
        Assert.Equal(rows.Length - 1, handOff.StagingReuses);
    }

    /// <summary>Between two GPUs the hand-off takes the peer route when the driver allows it and arrives bit-exact.</summary>
    [Fact]
    public void Peer_hand_off_between_two_devices_copies_exactly()
    {
        _ = fixture.Backend;
        if (CudaDevice.Count < 2)
        {
            Assert.Skip($"needs two GPUs; this machine has {CudaDevice.Count}");
        }

        using var other = CudaBackend.Create(1);
        var seed = FreshSeed();
        var values = RoundToBFloat16(RandomValues(new Random(seed), 257 * 96));
        using var handOff = new DeviceHandOff(fixture.Backend);
        var source = other.Upload(values, 257, 96);

        using var moved = handOff.Take(other, source);
        var route = handOff.RouteFrom(other);
        var actual = Download(fixture.Backend, moved);

        Assert.Contains(route, new[] { HandOffRoute.Peer, HandOffRoute.HostStaged });
        TestContext.Current.SendDiagnosticMessage($"device 1 -> device 0 took route {route}");
        Assert.Equal(values, actual);
    }

    private void AssertExactHandOff(bool forceHostStaging, HandOffRoute expectedRoute)
    {
        var target = fixture.Backend;
        using var producer = CudaBackend.Create(target.Context.Device.Ordinal);
        using var handOff = new DeviceHandOff(target) { ForceHostStaging = forceHostStaging };
        var seed = FreshSeed();
        const long Rows = 1031;
        const int Columns = 192;
        var values = RoundToBFloat16(RandomValues(new Random(seed), Rows * Columns, scale: 7f));
        var source = (CudaTensor)producer.Upload(values, Rows, Columns);
        using var destination = (CudaTensor)target.Allocate(Rows, Columns);
        target.Poison(destination);
        var producerBytes = producer.Context.AllocatedBytes;

        handOff.CopyInto(producer, source, destination);
        var actual = Download(target, destination);
        handOff.Flush();

        Assert.Equal(expectedRoute, handOff.RouteFrom(producer));
        Assert.Equal(1, handOff.Transfers(expectedRoute));
        Assert.Equal(Rows * Columns * 2, handOff.CopiedBytes);
        Assert.Equal(0, handOff.InFlightCount);
        Assert.Equal(producerBytes - source.Bytes, producer.Context.AllocatedBytes);
        for (var i = 0; i < values.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(values[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
            {
                Assert.Fail($"seed {seed}: element {i} is {actual[i]}, expected {values[i]} (route {expectedRoute})");
            }
        }
    }
}
