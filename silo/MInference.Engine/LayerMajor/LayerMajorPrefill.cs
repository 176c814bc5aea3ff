using MInference.Kernels.Backends;
using MInference.Shared.Contracts;
using MInference.Shared.Models;

namespace MInference.Engine.LayerMajor;

/// <summary>
/// Whole-model pre-fill on one backend, layer-major (DESIGN section 5): the whole prompt is one span and
/// each layer is its own one-layer stage, whose K/V cache lives only while that layer runs. So the K/V of
/// one layer is what a long prompt costs beyond the weights and the per-token activations
/// (<see cref="LayerMajorMemory"/>), and a single GPU can pre-fill 1M tokens of an 8B model.
/// </summary>
public sealed class LayerMajorPrefill : IDisposable
{
    private readonly ModelShard[] _stages;

    private LayerMajorPrefill(ModelShard[] stages) => _stages = stages;

    public ModelSpec Spec => _stages[0].Spec;

    public IComputeBackend Backend => _stages[0].Backend;

    /// <summary>Uploads every layer as its own stage (the embedding with layer 0, the LM head with the last).</summary>
    public static LayerMajorPrefill Load(IModelWeights weights, IComputeBackend backend, ModelShardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(backend);
        var stages = new List<ModelShard>();
        try
        {
            for (var layer = 0; layer < weights.Spec.LayerCount; layer++)
            {
                stages.Add(ModelShard.Load(weights, new LayerRange(layer, layer + 1), backend, options, cancellationToken));
            }

            return new LayerMajorPrefill([.. stages]);
        }
        catch
        {
            stages.ForEach(s => s.Dispose());
            throw;
        }
    }

    /// <summary>
    /// Pre-fills <paramref name="tokenIds"/> through every layer and returns the last position's logits and
    /// each layer's attention density. Each stage's K/V cache is freed as soon as its layer is done;
    /// <paramref name="layerDone"/>, when given, hears each layer's density once the layer has finished on
    /// the backend (stages synchronise at their end), e.g. for progress on long prompts.
    /// </summary>
    public LayerMajorResult Run(ReadOnlySpan<int> tokenIds, Action<LayerDensity>? layerDone = null, CancellationToken cancellationToken = default)
    {
        if (tokenIds.IsEmpty)
        {
            throw new ArgumentException("the prompt is empty: a pre-fill needs at least 1 token", nameof(tokenIds));
        }

        IDeviceTensor? hidden = null;
        SpanResult? result = null;
        var densities = new List<LayerDensity>(_stages.Length);
        try
        {
            for (var s = 0; s < _stages.Length; s++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var sequence = _stages[s].CreateSequence(tokenIds.Length);
                result = s == 0
                    ? _stages[s].RunSpan(sequence, tokenIds, cancellationToken)
                    : _stages[s].RunSpan(sequence, hidden!, cancellationToken);
                hidden = result.HiddenStates;
                densities.AddRange(result.AttentionDensity);
                foreach (var density in result.AttentionDensity)
                {
                    layerDone?.Invoke(density);
                }
            }

            return new LayerMajorResult(result!.Logits!, densities);
        }
        finally
        {
            // The stages update one hidden-state tensor in place; it is freed once.
            hidden?.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var stage in _stages)
        {
            stage.Dispose();
        }
    }
}
