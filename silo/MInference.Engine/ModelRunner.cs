using MInference.Kernels.Backends;

namespace MInference.Engine;

/// <summary>
/// A whole model as a chain of <see cref="ModelShard"/>s covering layers <c>[0, L)</c> in one process:
/// chunked pre-fill and greedy decode. The stage grains do the same across machines; this is the
/// embedded path (CLI, tests, benchmarks). Hidden states cross backends through the host.
/// </summary>
public sealed class ModelRunner
{
    private readonly ModelShard[] _stages;

    public ModelRunner(IReadOnlyList<ModelShard> stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (stages.Count == 0)
        {
            throw new ArgumentException("a runner needs at least one stage", nameof(stages));
        }

        var expectedStart = 0;
        foreach (var stage in stages)
        {
            if (stage.Layers.Start != expectedStart)
            {
                throw new ArgumentException($"stage {stage.Layers} does not start where the previous one ended (layer {expectedStart})", nameof(stages));
            }

            expectedStart = stage.Layers.End;
        }

        if (expectedStart != stages[0].Spec.LayerCount)
        {
            throw new ArgumentException($"stages end at layer {expectedStart} but the model has {stages[0].Spec.LayerCount} layers", nameof(stages));
        }

        _stages = [.. stages];
    }

    public IReadOnlyList<ModelShard> Stages => _stages;

    /// <summary>One <see cref="SequenceKvCache"/> per stage, all of <paramref name="capacity"/> tokens.</summary>
    public IReadOnlyList<SequenceKvCache> CreateSequence(long capacity)
    {
        var caches = new List<SequenceKvCache>(_stages.Length);
        foreach (var stage in _stages)
        {
            caches.Add(stage.CreateSequence(capacity));
        }

        return caches;
    }

    /// <summary>
    /// Pre-fills <paramref name="tokenIds"/> in spans of at most <paramref name="chunkTokens"/>,
    /// reporting the tokens done after each span; returns the logits of the last token.
    /// </summary>
    public float[] Prefill(
        IReadOnlyList<SequenceKvCache> sequence,
        ReadOnlySpan<int> tokenIds,
        int chunkTokens,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        if (tokenIds.IsEmpty)
        {
            throw new ArgumentException("the prompt is empty: pre-fill needs at least 1 token", nameof(tokenIds));
        }

        float[]? logits = null;
        for (var start = 0; start < tokenIds.Length; start += chunkTokens)
        {
            var length = Math.Min(chunkTokens, tokenIds.Length - start);
            logits = RunSpan(sequence, tokenIds.Slice(start, length), cancellationToken);
            progress?.Report(start + length);
        }

        return logits!;
    }

    /// <summary>
    /// Pre-fills <paramref name="tokenIds"/> in consecutive spans of the given lengths (e.g. a dynamic plan
    /// from <c>Planning.ChunkPlanner</c>, whose chunks shrink as the prefix grows); the lengths must be at
    /// least 1 each and add up to the prompt. Reports the tokens done after each span; returns the logits
    /// of the last token.
    /// </summary>
    public float[] Prefill(
        IReadOnlyList<SequenceKvCache> sequence,
        ReadOnlySpan<int> tokenIds,
        IReadOnlyList<int> chunkLengths,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunkLengths);
        if (tokenIds.IsEmpty)
        {
            throw new ArgumentException("the prompt is empty: pre-fill needs at least 1 token", nameof(tokenIds));
        }

        long total = 0;
        foreach (var length in chunkLengths)
        {
            if (length < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(chunkLengths), length, $"chunk length {length} must be at least 1");
            }

            total += length;
        }

        if (total != tokenIds.Length)
        {
            throw new ArgumentException($"chunk lengths add up to {total} tokens but the prompt has {tokenIds.Length}", nameof(chunkLengths));
        }

        float[]? logits = null;
        var start = 0;
        foreach (var length in chunkLengths)
        {
            logits = RunSpan(sequence, tokenIds.Slice(start, length), cancellationToken);
            start += length;
            progress?.Report(start);
        }

        return logits!;
    }

    /// <summary>Runs one span through every stage and returns the logits of its last token.</summary>
    public float[] RunSpan(IReadOnlyList<SequenceKvCache> sequence, ReadOnlySpan<int> tokenIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.Count != _stages.Length)
        {
            throw new ArgumentException($"the sequence has {sequence.Count} stage caches but the runner has {_stages.Length} stages", nameof(sequence));
        }

        var result = _stages[0].RunSpan(sequence[0], tokenIds, cancellationToken);
        for (var s = 1; s < _stages.Length; s++)
        {
            var hidden = MoveTo(result, _stages[s].Backend);
            result = _stages[s].RunSpan(sequence[s], hidden, cancellationToken);
        }

        using (result)
        {
            return result.Logits!;
        }
    }

    /// <summary>Greedy decode: feeds the arg-max of <paramref name="logits"/> back one token at a time, <paramref name="count"/> times.</summary>
    public IReadOnlyList<int> DecodeGreedy(
        IReadOnlyList<SequenceKvCache> sequence,
        float[] logits,
        int count,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var tokens = new List<int>(count);
        for (var i = 0; i < count; i++)
        {
            var next = ArgMax(logits);
            tokens.Add(next);
            if (i + 1 < count)
            {
                logits = RunSpan(sequence, [next], cancellationToken);
            }
        }

        return tokens;
    }

    /// <summary>Index of the largest logit; ties keep the lower index.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        return best;
    }

    private static IDeviceTensor MoveTo(SpanResult result, IComputeBackend target)
    {
        var previous = result.HiddenStates;
        var source = result.Backend;
        if (ReferenceEquals(source, target))
        {
            return previous;
        }

        using (result)
        {
            var host = new float[previous.Rows * previous.Columns];
            source.Download(previous, host);
            return target.Upload(host, previous.Rows, previous.Columns);
        }
    }
}
