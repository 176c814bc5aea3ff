using MInference.Kernels.Backends;
using MInference.Shared.Models;

namespace MInference.Engine.Analysis;

/// <summary>
/// Runs a prompt through a whole model as one dense span and hands each layer's attention inputs to
/// an observer, layer by layer (only one layer's Q/K/V is on the host at a time). The analysis and the
/// pattern search measure every layer on the same dense hidden states, so one head's error never
/// leaks into the next layer's inputs: each number describes that head alone, as in the paper's search.
/// </summary>
public static class ReferencePass
{
    public static void Run(
        IModelWeights weights, IComputeBackend backend, ReadOnlySpan<int> tokens, Action<int, CapturedAttention> perLayer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(perLayer);
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("the reference input is empty: it needs at least 1 token", nameof(tokens));
        }

        using var capture = new AttentionCaptureBackend(backend, call => perLayer(call.CallIndex, call));
        using var shard = ModelShard.Load(weights, new LayerRange(0, weights.Spec.LayerCount), capture, cancellationToken: cancellationToken);
        using var sequence = shard.CreateSequence(tokens.Length);
        using var result = shard.RunSpan(sequence, tokens, cancellationToken);
    }
}
