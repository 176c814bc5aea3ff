using System.Diagnostics;
using System.Globalization;
using MInference.Kernels.Cuda.Transfer;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Hand-off throughput between two CUDA backends of one process at a pipeline chunk's size (8192 tokens of
/// a 4096-wide model, 64 MiB bf16). Explicit: run by deploy/gpu/remote.sh with MINFERENCE_GPU_BENCH=1 and
/// MINFERENCE_GPU_BENCH_CLASS=TransferBenchmarks; appends a JSON line per route to
/// $MINFERENCE_BENCH_OUT/transfer.jsonl. Host clock around queue + synchronize, one warm-up, median of repeats.
/// </summary>
public sealed class TransferBenchmarks(CudaFixture fixture)
{
    private const int Repeats = 7;
    private const long Rows = 8192;
    private const int Columns = 4096;

    /// <summary>Measures (asserts nothing but a completed copy) the same-device and pinned-staged routes.</summary>
    [Theory(Explicit = true)]
    [InlineData(false)]
    [InlineData(true)]
    public void Hand_off_throughput(bool forceHostStaging)
    {
        var target = fixture.Backend;
        using var producer = CudaBackend.Create(target.Context.Device.Ordinal);
        using var handOff = new DeviceHandOff(target) { ForceHostStaging = forceHostStaging };
        using var destination = (CudaTensor)target.Allocate(Rows, Columns);
        var seconds = new List<double>();
        for (var i = 0; i <= Repeats; i++)
        {
            var source = (CudaTensor)producer.Allocate(Rows, Columns);
            producer.FillRandom(source, (ulong)i);
            producer.Synchronize();
            var watch = Stopwatch.StartNew();
            handOff.CopyInto(producer, source, destination);
            target.Synchronize();
            if (i > 0)
            {
                seconds.Add(watch.Elapsed.TotalSeconds);
            }
        }

        handOff.Flush();
        seconds.Sort();
        var median = seconds[seconds.Count / 2];
        var bytes = Rows * Columns * 2;
        var route = handOff.RouteFrom(producer);
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"bench\":\"hand-off\",\"route\":\"{route}\",\"device\":\"{target.Context.Device.Name}\",\"bytes\":{bytes},\"median_ms\":{median * 1e3:F3},\"gb_per_s\":{bytes / median / 1e9:F1}}}");
        TestContext.Current.SendDiagnosticMessage(line);
        var directory = Environment.GetEnvironmentVariable("MINFERENCE_BENCH_OUT");
        if (!string.IsNullOrEmpty(directory))
        {
            File.AppendAllLines(Path.Combine(directory, "transfer.jsonl"), [line]);
        }

        Assert.True(handOff.Transfers(route) == Repeats + 1, $"{handOff.Transfers(route)} hand-offs by {route}");
    }
}
