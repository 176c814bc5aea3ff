using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MInference.DataPlane;
using MInference.Kernels.Backends;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;
using MInference.Silo.Devices;
using MInference.Silo.Grains;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Two pipeline stages (first half of the layers, second half) as the silo runs them: a device worker
/// each, on one silo (in-process channel) or on two (each with its own channel and TCP data plane).
/// </summary>
internal sealed class TransferStages : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _dataPlanes = [];
    private readonly List<IDisposable> _owned = [];

    public TransferStages(IComputeBackend first, IComputeBackend second, bool twoSilos, string activationDType = ActivationWire.Auto)
    {
        var options = Options.Create(new DataPlaneOptions { ActivationDType = activationDType });
        var execution = Options.Create(new ClusterExecutionOptions());
        FirstChannel = new InProcessActivationChannel("silo-a");
        SecondChannel = twoSilos ? new InProcessActivationChannel("silo-b") : FirstChannel;
        var firstPlane = new SiloDataPlane(options, execution, "silo-a", NullLoggerFactory.Instance);
        var secondPlane = twoSilos ? new SiloDataPlane(options, execution, "silo-b", NullLoggerFactory.Instance) : firstPlane;
        _dataPlanes.Add(firstPlane);
        if (twoSilos)
        {
            _dataPlanes.Add(secondPlane);
        }

        First = new DeviceWorker(0, first, FirstChannel, firstPlane, maxQueuedChunks: 2, "silo-a/0", NullLogger.Instance);
        Second = new DeviceWorker(1, second, SecondChannel, secondPlane, maxQueuedChunks: 2, twoSilos ? "silo-b/0" : "silo-a/1", NullLogger.Instance);
        _owned.AddRange([First, Second, FirstChannel]);
        if (twoSilos)
        {
            _owned.Add(SecondChannel);
        }
    }

    public InProcessActivationChannel FirstChannel { get; }

    public InProcessActivationChannel SecondChannel { get; }

    public DeviceWorker First { get; }

    public DeviceWorker Second { get; }

    /// <summary>
    /// Runs the document chunk by chunk through both stages (the first hands each chunk's hidden states to
    /// the second through a ticket); returns the second stage's logits after the last chunk and the tickets.
    /// </summary>
    public async Task<(float[] Logits, IReadOnlyList<ActivationTicket> Tickets)> RunAsync(TransferModelCase model, int chunkTokens, CancellationToken cancellationToken)
    {
        var job = "transfer-" + Guid.NewGuid().ToString("n");
        var split = model.Spec.LayerCount / 2;
        var tickets = new List<ActivationTicket>();
        float[]? logits = null;
        try
        {
            var index = 0;
            foreach (var chunk in model.Chunks(chunkTokens))
            {
                var first = await First.RunChunkAsync(
                    new StageChunkRequest(job, index, model.ModelDirectory, 0, split, model.Tokens.Length, chunk, null, SecondChannel.SiloName), cancellationToken);
                var ticket = first.Output ?? throw new InvalidOperationException($"chunk {index}: the first stage handed on no ticket");
                tickets.Add(ticket);
                var second = await Second.RunChunkAsync(
                    new StageChunkRequest(job, index, model.ModelDirectory, split, model.Spec.LayerCount, model.Tokens.Length, null, ticket), cancellationToken);
                logits = second.Logits ?? throw new InvalidOperationException($"chunk {index}: the last stage returned no logits");
                index++;
            }
        }
        finally
        {
            First.ReleaseJob(job);
            Second.ReleaseJob(job);
        }

        return (logits!, tickets);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        foreach (var plane in _dataPlanes)
        {
            await plane.DisposeAsync();
        }
    }
}
