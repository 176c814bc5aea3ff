using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MInference.DataPlane;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;
using MInference.Silo.Grains;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// The silo data plane's device fetch on one GPU across two processes: this test process parks activations
/// (bytes plus a CUDA IPC export) behind its real TCP listener on loopback; a child process pulls them
/// through <see cref="SiloDataPlane.FetchAsync(ActivationTicket, MInference.Kernels.Backends.IComputeBackend, SemaphoreSlim, CancellationToken)"/>.
/// </summary>
public sealed class TransferDataPlaneIpcTests(CudaFixture fixture)
{
    /// <summary>Names the request file of <see cref="TransferDataPlaneIpcChild"/>; the child writes one result file per ticket beside it.</summary>
    internal const string RequestVariable = "MINFERENCE_DATAPLANE_IPC_REQUEST";

    /// <summary>
    /// A child on the same host pulls one ticket device to device (the listener handed out the export, not
    /// the bytes) and one ticket from a listener claiming another host as bytes (the fallback); both arrive
    /// bit-exact, and each acknowledgement freed the parked payload and its GPU export.
    /// </summary>
    [Fact]
    public async Task Child_process_pulls_through_the_listener_device_to_device_and_falls_back_to_bytes()
    {
        var gpu = fixture.Backend;
        var ct = TestContext.Current.CancellationToken;
        var seed = FreshSeed();
        const long Rows = 517;
        const int Columns = 384;
        var execution = Options.Create(new ClusterExecutionOptions());
        await using var sameHost = new SiloDataPlane(Options.Create(new DataPlaneOptions()), execution, "producer", NullLoggerFactory.Instance);
        await using var otherHost = new SiloDataPlane(Options.Create(new DataPlaneOptions { HostId = "another-host" }), execution, "producer-elsewhere", NullLoggerFactory.Instance);
        var random = new Random(seed);
        var expected = new List<float[]>();
        var tickets = new List<ActivationTicket>();
        var before = gpu.Context.AllocatedBytes;
        foreach (var plane in new[] { sameHost, otherHost })
        {
            var values = RoundToBFloat16(RandomValues(random, Rows * Columns, scale: 4f));
            using var tensor = gpu.Upload(values, Rows, Columns);
            var export = plane.TryExport(gpu, tensor);
            Assert.NotNull(export);
            var bytes = MemoryMarshal.AsBytes(Download(gpu, tensor).AsSpan()).ToArray();
            tickets.Add(await plane.PublishAsync("ipc-job", tickets.Count, Rows, Columns, bytes, producerComputesInBFloat16: true, export, ct));
            expected.Add(values);
        }

        var folder = Directory.CreateTempSubdirectory("minference-dataplane-ipc-").FullName;
        try
        {
            var request = Path.Combine(folder, "tickets.txt");
            await File.WriteAllLinesAsync(request, tickets.Select(TransferDataPlaneIpcChild.Format), ct);

            var (exitCode, log) = await TransferIpcTests.RunChildAsync(
                $"{typeof(TransferDataPlaneIpcChild).FullName}.{nameof(TransferDataPlaneIpcChild.Pulls_the_parents_tickets)}", RequestVariable, request, ct);

            bool[] expectedOnDevice = [true, false];
            for (var t = 0; t < tickets.Count; t++)
            {
                var result = TransferDataPlaneIpcChild.ResultPath(request, t);
                Assert.True(File.Exists(result), $"the child wrote no result for ticket {t} (exit code {exitCode}):\n{log}");
                var raw = await File.ReadAllBytesAsync(result, ct);
                Assert.True(expectedOnDevice[t] == (raw[0] == 1), $"ticket {t} came {(raw[0] == 1 ? "device to device" : "as bytes")}, expected {(expectedOnDevice[t] ? "device to device" : "as bytes")}:\n{log}");
                var actual = MemoryMarshal.Cast<byte, float>(raw.AsSpan(4)).ToArray();
                Assert.Equal(expected[t].Length, actual.Length);
                for (var i = 0; i < actual.Length; i++)
                {
                    if (BitConverter.SingleToUInt32Bits(expected[t][i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                    {
                        Assert.Fail($"seed {seed}: ticket {t} element {i} came back as {actual[i]}, expected {expected[t][i]}");
                    }
                }
            }

            TestContext.Current.SendDiagnosticMessage(log);
            Assert.Equal(0, sameHost.ParkedCount);
            Assert.Equal(0, otherHost.ParkedCount);
            Assert.Equal(before, gpu.Context.AllocatedBytes);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>The child side of <see cref="TransferDataPlaneIpcTests"/>: skipped unless that test started this process.</summary>
public sealed class TransferDataPlaneIpcChild(CudaFixture fixture)
{
    internal static string ResultPath(string request, int ticket) => $"{request}.{ticket}.out";

    /// <summary>One ticket per line, fields separated by '|' (no field of these tickets contains one).</summary>
    internal static string Format(ActivationTicket t) => string.Join(
        '|',
        t.TransferId.ToString("D"),
        t.JobId,
        t.ChunkIndex.ToString(CultureInfo.InvariantCulture),
        t.Rows.ToString(CultureInfo.InvariantCulture),
        t.Columns.ToString(CultureInfo.InvariantCulture),
        t.DType,
        t.ByteLength.ToString(CultureInfo.InvariantCulture),
        t.SourceSilo,
        t.SourceEndpoint);

    private static ActivationTicket Parse(string line)
    {
        var f = line.Split('|');
        return new ActivationTicket(
            Guid.Parse(f[0]),
            f[1],
            int.Parse(f[2], CultureInfo.InvariantCulture),
            long.Parse(f[3], CultureInfo.InvariantCulture),
            int.Parse(f[4], CultureInfo.InvariantCulture),
            f[5],
            long.Parse(f[6], CultureInfo.InvariantCulture),
            f[7],
            f[8]);
    }

    /// <summary>
    /// In the child process: pulls each of the parent's tickets onto this process's GPU backend through the
    /// silo data plane and writes, per ticket, whether it came device to device (first byte) and the values (f32, from byte 4).
    /// </summary>
    [Fact]
    public async Task Pulls_the_parents_tickets()
    {
        var request = Environment.GetEnvironmentVariable(TransferDataPlaneIpcTests.RequestVariable);
        if (string.IsNullOrEmpty(request))
        {
            Assert.Skip($"runs only as the child process TransferDataPlaneIpcTests starts ({TransferDataPlaneIpcTests.RequestVariable} is unset)");
        }

        var ct = TestContext.Current.CancellationToken;
        var gpu = fixture.Backend;
        var tickets = (await File.ReadAllLinesAsync(request, ct)).Where(line => line.Length > 0).Select(Parse).ToList();
        await using var consumer = new SiloDataPlane(Options.Create(new DataPlaneOptions()), Options.Create(new ClusterExecutionOptions()), "consumer", NullLoggerFactory.Instance);
        using var gate = new SemaphoreSlim(1, 1);
        for (var t = 0; t < tickets.Count; t++)
        {
            using var remote = await consumer.FetchAsync(tickets[t], gpu, gate, ct);
            var onDevice = remote.CameOnDevice;
            using var tensor = remote.TakeTensor(tickets[t], gpu);
            var values = Download(gpu, tensor);
            var output = new byte[4 + (values.Length * sizeof(float))];
            output[0] = onDevice ? (byte)1 : (byte)0;
            MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(output.AsSpan(4));
            await File.WriteAllBytesAsync(ResultPath(request, t), output, ct);
        }

        Assert.Equal(1, consumer.DeviceFetches);
    }
}
