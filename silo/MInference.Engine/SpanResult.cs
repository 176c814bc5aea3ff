using MInference.Kernels.Backends;
using MInference.Shared.Contracts;

namespace MInference.Engine;

/// <summary>
/// What a span leaves after a stage: the hidden states <c>[tokens, hidden]</c> to hand to the next
/// stage (the caller owns and disposes them), and on the last stage the logits of the last position.
/// </summary>
public sealed class SpanResult : IDisposable
{
    internal SpanResult(IComputeBackend backend, IDeviceTensor hiddenStates, float[]? logits)
    {
        Backend = backend;
        HiddenStates = hiddenStates;
        Logits = logits;
    }

    /// <summary>The backend the hidden states live on.</summary>
    public IComputeBackend Backend { get; }

    public IDeviceTensor HiddenStates { get; }

    /// <summary>Vocabulary-sized logits of the span's last token; null unless the stage owns the last layer.</summary>
    public float[]? Logits { get; }

    /// <summary>Per owned layer, the attention pairs this span computed (sparse heads measured or bounded; see <see cref="LayerDensity"/>).</summary>
    public IReadOnlyList<LayerDensity> AttentionDensity { get; init; } = [];

    public void Dispose() => HiddenStates.Dispose();
}
