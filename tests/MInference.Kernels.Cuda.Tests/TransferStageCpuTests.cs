using MInference.DataPlane;
using MInference.Kernels.Cpu;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>The wire dtype of activations between CPU stages on two silos (no GPU needed: these run in CI).</summary>
public sealed class TransferStageCpuTests
{
    private const int ChunkTokens = 40;

    /// <summary>
    /// By default (Auto) CPU stages send f32 between silos, so two stages over TCP give the single-process
    /// CPU engine's logits bit for bit (same chunking); the tickets say F32 and carry 4 bytes per value.
    /// </summary>
    [Fact]
    public async Task Cpu_stages_across_silos_send_f32_by_default_and_match_one_process_bit_for_bit()
    {
        var ct = TestContext.Current.CancellationToken;
        using var model = new TransferModelCase(tokenCount: 101, referenceChunkTokens: ChunkTokens, ct);
        using var first = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 2 });
        using var second = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 2 });
        await using var stages = new TransferStages(first, second, twoSilos: true);

        var (logits, tickets) = await stages.RunAsync(model, ChunkTokens, ct);

        Assert.All(tickets, t => Assert.Equal((ActivationWire.F32, t.Rows * t.Columns * 4), (t.DType, t.ByteLength)));
        Assert.Equal(model.ExpectedLogits, logits);
    }

    /// <summary>
    /// With DataPlane:ActivationDType BF16, CPU stages send half the bytes; the logits stay within the bf16
    /// tolerance (relative L2 1e-2) of the single-process engine, since each hand-off rounds the hidden
    /// states once (at most 2^-8 relative per element).
    /// </summary>
    [Fact]
    public async Task Cpu_stages_with_bf16_on_the_wire_send_half_the_bytes_within_tolerance()
    {
        var ct = TestContext.Current.CancellationToken;
        using var model = new TransferModelCase(tokenCount: 101, referenceChunkTokens: ChunkTokens, ct);
        using var first = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 2 });
        using var second = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 2 });
        await using var stages = new TransferStages(first, second, twoSilos: true, ActivationWire.BF16);

        var (logits, tickets) = await stages.RunAsync(model, ChunkTokens, ct);

        Assert.All(tickets, t => Assert.Equal((ActivationWire.BF16, t.Rows * t.Columns * 2), (t.DType, t.ByteLength)));
        TestContext.Current.SendDiagnosticMessage($"bf16 wire: logits relative L2 {RelativeL2(logits, model.ExpectedLogits):E3}");
        AssertClose(logits, model.ExpectedLogits, model.Seed, "CPU stages with bf16 activations on the wire vs one process", Bf16Tolerance);
    }
}
