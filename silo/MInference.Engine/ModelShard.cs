using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Engine;

/// <summary>
/// Layers <c>[a, b)</c> of a decoder on one compute backend. It runs spans of tokens through its
/// layers, appending each span's K/V to a <see cref="SequenceKvCache"/>: one span for a whole prompt
/// or many for a chunked one, through the same loop. The first stage embeds token ids; the last
/// applies the final norm and the LM head to the span's last position.
/// </summary>
public sealed class ModelShard : IDisposable
{
    private readonly LayerWeights[] _layers;
    private readonly IDeviceTensor? _embedding;
    private readonly IDeviceTensor? _finalNorm;
    private readonly IDeviceTensor? _lmHead;
    private readonly bool _lmHeadIsEmbedding;
    private readonly int _mlpChunkTokens;

    /// <summary>Per owned layer, its heads' patterns; null when the shard runs dense.</summary>
    private readonly HeadPattern[][]? _layerPatterns;

    private ModelShard(
        ModelSpec spec,
        LayerRange layers,
        IComputeBackend backend,
        ModelShardOptions options,
        LayerWeights[] layerWeights,
        IDeviceTensor? embedding,
        IDeviceTensor? finalNorm,
        IDeviceTensor? lmHead,
        bool lmHeadIsEmbedding)
    {
        Spec = spec;
        Layers = layers;
        Backend = backend;
        _mlpChunkTokens = options.MlpChunkTokens;
        _layerPatterns = options.Patterns is { } patterns
            ? [.. Enumerable.Range(layers.Start, layers.Count).Select(patterns.Layer)]
            : null;
        _layers = layerWeights;
        _embedding = embedding;
        _finalNorm = finalNorm;
        _lmHead = lmHead;
        _lmHeadIsEmbedding = lmHeadIsEmbedding;
    }

    public ModelSpec Spec { get; }

    public LayerRange Layers { get; }

    public IComputeBackend Backend { get; }

    /// <summary>Owns layer 0: takes token ids.</summary>
    public bool IsFirstStage => Layers.Start == 0;

    /// <summary>Owns the last layer: produces logits.</summary>
    public bool IsLastStage => Layers.End == Spec.LayerCount;

    /// <summary>
    /// Uploads the weights of <paramref name="layers"/> (plus the embedding on the first stage and the
    /// final norm and LM head on the last) from <paramref name="weights"/> to <paramref name="backend"/>.
    /// Other layers' tensors are never read.
    /// </summary>
    public static ModelShard Load(
        IModelWeights weights,
        LayerRange layers,
        IComputeBackend backend,
        ModelShardOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(backend);
        options ??= new ModelShardOptions();
        options.Validate();
        var spec = weights.Spec;
        ValidateSpec(spec);
        options.Patterns?.EnsureFits(spec.LayerCount, spec.QueryHeadCount, spec.Architecture);
        if (layers.Start < 0 || layers.End > spec.LayerCount || layers.Count < 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(layers),
                $"layer range {layers} must be non-empty and within the model's {spec.LayerCount} layers");
        }

        var loader = new WeightUploader(weights, backend);
        var loaded = new List<LayerWeights>();
        try
        {
            var q = spec.QueryHeadCount * spec.HeadDim;
            var kv = spec.KeyValueHeadCount * spec.HeadDim;
            var hidden = spec.HiddenSize;
            for (var layer = layers.Start; layer < layers.End; layer++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                loaded.Add(new LayerWeights
                {
                    InputNorm = loader.Vector(ModelTensorNames.InputNorm(layer), hidden),
                    Query = loader.Matrix(ModelTensorNames.QueryProjection(layer), q, hidden),
                    Key = loader.Matrix(ModelTensorNames.KeyProjection(layer), kv, hidden),
                    Value = loader.Matrix(ModelTensorNames.ValueProjection(layer), kv, hidden),
                    QueryBias = spec.AttentionBias ? loader.Vector(ModelTensorNames.QueryBias(layer), q) : null,
                    KeyBias = spec.AttentionBias ? loader.Vector(ModelTensorNames.KeyBias(layer), kv) : null,
                    ValueBias = spec.AttentionBias ? loader.Vector(ModelTensorNames.ValueBias(layer), kv) : null,
                    Output = loader.Matrix(ModelTensorNames.OutputProjection(layer), hidden, q),
                    PostAttentionNorm = loader.Vector(ModelTensorNames.PostAttentionNorm(layer), hidden),
                    Gate = loader.Matrix(ModelTensorNames.GateProjection(layer), spec.IntermediateSize, hidden),
                    Up = loader.Matrix(ModelTensorNames.UpProjection(layer), spec.IntermediateSize, hidden),
                    Down = loader.Matrix(ModelTensorNames.DownProjection(layer), hidden, spec.IntermediateSize),
                });
            }

            var isFirst = layers.Start == 0;
            var isLast = layers.End == spec.LayerCount;
            var tied = spec.TieWordEmbeddings;
            var embedding = isFirst || (isLast && tied)
                ? loader.Matrix(ModelTensorNames.Embedding, spec.VocabSize, hidden)
                : null;
            var finalNorm = isLast ? loader.Vector(ModelTensorNames.FinalNorm, hidden) : null;
            var lmHead = isLast
                ? (tied ? embedding : loader.Matrix(ModelTensorNames.LmHead, spec.VocabSize, hidden))
                : null;
            return new ModelShard(spec, layers, backend, options, [.. loaded], isFirst ? embedding : null, finalNorm, lmHead, isLast && tied);
        }
        catch
        {
            foreach (var layer in loaded)
            {
                layer.Dispose();
            }

            loader.DisposeAll();
            throw;
        }
    }

    /// <summary>Allocates empty K/V caches of <paramref name="capacity"/> tokens for every owned layer.</summary>
    public SequenceKvCache CreateSequence(long capacity)
    {
        if (capacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "a sequence's KV capacity must be at least 1 token");
        }

        var width = Spec.KeyValueHeadCount * Spec.HeadDim;
        var keys = new IDeviceTensor[Layers.Count];
        var values = new IDeviceTensor[Layers.Count];
        for (var i = 0; i < Layers.Count; i++)
        {
            keys[i] = Backend.Allocate(capacity, width);
            values[i] = Backend.Allocate(capacity, width);
        }

        return new SequenceKvCache(this, capacity, keys, values, RopeFrequencies.For(Spec, capacity));
    }

    /// <summary>
    /// First stage: embeds <paramref name="tokenIds"/> at positions <c>[sequence.Length, sequence.Length + n)</c>
    /// and runs them through the owned layers.
    /// </summary>
    public SpanResult RunSpan(SequenceKvCache sequence, ReadOnlySpan<int> tokenIds, CancellationToken cancellationToken = default)
    {
        CheckSequence(sequence, tokenIds.Length);
        if (_embedding is null)
        {
            throw new InvalidOperationException($"stage {Layers} does not own layer 0; pass it the previous stage's hidden states, not token ids");
        }

        for (var i = 0; i < tokenIds.Length; i++)
        {
            if ((uint)tokenIds[i] >= (uint)Spec.VocabSize)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(tokenIds),
                    tokenIds[i],
                    $"token id {tokenIds[i]} at index {i} is outside the vocabulary of {Spec.VocabSize} tokens");
            }
        }

        var hidden = Backend.Allocate(tokenIds.Length, Spec.HiddenSize);
        try
        {
            Backend.Embedding(_embedding, tokenIds, hidden);
            return RunLayers(sequence, hidden, cancellationToken);
        }
        catch
        {
            hidden.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Later stages: runs the previous stage's <paramref name="hiddenStates"/> <c>[n, hidden]</c> through the
    /// owned layers. They are updated in place and returned as the result's hidden states.
    /// </summary>
    public SpanResult RunSpan(SequenceKvCache sequence, IDeviceTensor hiddenStates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hiddenStates);
        CheckSequence(sequence, hiddenStates.Rows);
        if (hiddenStates.Columns != Spec.HiddenSize)
        {
            throw new ArgumentException(
                $"hidden states have {hiddenStates.Columns} features but the model's hidden size is {Spec.HiddenSize}",
                nameof(hiddenStates));
        }

        return RunLayers(sequence, hiddenStates, cancellationToken);
    }

    /// <summary>Final norm and LM head on one row of hidden states: the logits of that position.</summary>
    public float[] ComputeLogits(IDeviceTensor lastHiddenState)
    {
        ArgumentNullException.ThrowIfNull(lastHiddenState);
        if (_lmHead is null || _finalNorm is null)
        {
            throw new InvalidOperationException($"stage {Layers} does not own the last of {Spec.LayerCount} layers, so it has no LM head");
        }

        using var normed = Backend.Allocate(1, Spec.HiddenSize);
        using var logits = Backend.Allocate(1, Spec.VocabSize);
        Backend.RmsNorm(lastHiddenState, _finalNorm, Spec.RmsNormEpsilon, normed);
        Backend.Linear(normed, _lmHead, null, logits);
        var result = new float[Spec.VocabSize];
        Backend.Download(logits, result);
        return result;
    }

    public void Dispose()
    {
        foreach (var layer in _layers)
        {
            layer.Dispose();
        }

        _embedding?.Dispose();
        _finalNorm?.Dispose();
        if (!_lmHeadIsEmbedding || _embedding is null)
        {
            _lmHead?.Dispose();
        }
    }

    private SpanResult RunLayers(SequenceKvCache sequence, IDeviceTensor hidden, CancellationToken cancellationToken)
    {
        var n = hidden.Rows;
        var position = sequence.Length;
        var spec = Spec;
        var backend = Backend;
        var qWidth = spec.QueryHeadCount * spec.HeadDim;

        // Only Q, the attention output, the hidden states and the K/V rows span all n tokens: norms,
        // projections and the MLP run a chunk of rows at a time, so a 1M-token span holds no further
        // [n, hidden] buffer (8 GiB each in bf16 at 1M x 4096). A span of at most one chunk runs as one.
        var chunkRows = Math.Min(n, _mlpChunkTokens);
        using var normed = backend.Allocate(chunkRows, spec.HiddenSize);
        using var query = backend.Allocate(n, qWidth);
        using var attention = backend.Allocate(n, qWidth);
        using var projected = backend.Allocate(chunkRows, spec.HiddenSize);
        using var gate = backend.Allocate(chunkRows, spec.IntermediateSize);
        using var up = backend.Allocate(chunkRows, spec.IntermediateSize);
        var densities = new LayerDensity[_layers.Length];
        for (var i = 0; i < _layers.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var weights = _layers[i];
            var layer = Layers.Start + i;
            var keyCache = sequence.KeyCache(layer);
            var valueCache = sequence.ValueCache(layer);
            using var newKeys = keyCache.SliceRows(position, n);
            using var newValues = valueCache.SliceRows(position, n);

            // Attention block: K/V go straight into the cache rows of this span.
            for (long start = 0; start < n; start += chunkRows)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var rows = Math.Min(chunkRows, n - start);
                using var hiddenRows = Rows(hidden, start, rows, n);
                using var normedRows = Rows(normed, 0, rows, chunkRows);
                using var queryRows = Rows(query, start, rows, n);
                using var keyRows = Rows(newKeys, start, rows, n);
                using var valueRows = Rows(newValues, start, rows, n);
                backend.RmsNorm(hiddenRows ?? hidden, weights.InputNorm, spec.RmsNormEpsilon, normedRows ?? normed);
                backend.Linear(normedRows ?? normed, weights.Query, weights.QueryBias, queryRows ?? query);
                backend.Linear(normedRows ?? normed, weights.Key, weights.KeyBias, keyRows ?? newKeys);
                backend.Linear(normedRows ?? normed, weights.Value, weights.ValueBias, valueRows ?? newValues);
            }

            backend.ApplyRope(query, spec.HeadDim, position, sequence.RopeFrequencies);
            backend.ApplyRope(newKeys, spec.HeadDim, position, sequence.RopeFrequencies);
            var attentionArguments = new AttentionArguments(
                query, keyCache, valueCache, attention, position, spec.QueryHeadCount, spec.KeyValueHeadCount, spec.HeadDim);
            if (SparsePatternsFor(i, n, position + n) is { } headPatterns)
            {
                var coverage = new HeadPatternCoverage(headPatterns);
                backend.SparseAttention(attentionArguments, coverage);
                densities[i] = SparseDensity(layer, coverage, position, n);
            }
            else
            {
                backend.Attention(attentionArguments);
                var causal = spec.QueryHeadCount * SpanAttentionCost.CappedPairs(position, n, long.MaxValue);
                densities[i] = new LayerDensity(layer, causal, causal, 0, spec.QueryHeadCount, Measured: true);
            }

            // Output projection and residual, then the MLP block, a chunk of tokens at a time.
            for (long start = 0; start < n; start += chunkRows)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var rows = Math.Min(chunkRows, n - start);
                using var hiddenRows = Rows(hidden, start, rows, n);
                using var attentionRows = Rows(attention, start, rows, n);
                using var projectedRows = Rows(projected, 0, rows, chunkRows);
                backend.Linear(attentionRows ?? attention, weights.Output, null, projectedRows ?? projected);
                backend.AddInPlace(hiddenRows ?? hidden, projectedRows ?? projected);
            }

            for (long start = 0; start < n; start += chunkRows)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var rows = Math.Min(chunkRows, n - start);
                using var hiddenRows = Rows(hidden, start, rows, n);
                using var normedRows = Rows(normed, 0, rows, chunkRows);
                using var gateRows = Rows(gate, 0, rows, chunkRows);
                using var upRows = Rows(up, 0, rows, chunkRows);
                using var projectedRows = Rows(projected, 0, rows, chunkRows);
                backend.RmsNorm(hiddenRows ?? hidden, weights.PostAttentionNorm, spec.RmsNormEpsilon, normedRows ?? normed);
                backend.Linear(normedRows ?? normed, weights.Gate, null, gateRows ?? gate);
                backend.Linear(normedRows ?? normed, weights.Up, null, upRows ?? up);
                backend.SwiGlu(gateRows ?? gate, upRows ?? up, gateRows ?? gate);
                backend.Linear(gateRows ?? gate, weights.Down, null, projectedRows ?? projected);
                backend.AddInPlace(hiddenRows ?? hidden, projectedRows ?? projected);
            }
        }

        float[]? logits = null;
        if (IsLastStage)
        {
            using var last = hidden.SliceRows(n - 1, 1);
            logits = ComputeLogits(last);
        }

        backend.Synchronize();
        sequence.Length = position + n;
        sequence.AddAttentionDensity(densities);
        return new SpanResult(backend, hidden, logits) { AttentionDensity = densities };
    }

    /// <summary>
    /// A sparse layer's pairs: each head's count as the backend recorded it from its index, or, for heads it
    /// did not record, the budget bound of <see cref="SpanAttentionCost"/> (and the result says so).
    /// </summary>
    private static LayerDensity SparseDensity(int layer, HeadPatternCoverage coverage, long position, long rows)
    {
        long covered = 0;
        var sparseHeads = 0;
        var measured = true;
        for (var head = 0; head < coverage.Count; head++)
        {
            var pairs = coverage.CoveredPairs(head);
            if (pairs >= 0)
            {
                covered += pairs;
                sparseHeads += coverage.RanAs(head) == SparsePatternKind.Dense ? 0 : 1;
            }
            else
            {
                covered += SpanAttentionCost.PlannedPairs(coverage[head], position, rows);
                sparseHeads += SpanAttentionCost.KeysPerQuery(coverage[head], position + rows) == long.MaxValue ? 0 : 1;
                measured = false;
            }
        }

        var causal = coverage.Count * SpanAttentionCost.CappedPairs(position, rows, long.MaxValue);
        return new LayerDensity(layer, covered, causal, sparseHeads, coverage.Count, measured);
    }

    /// <summary>
    /// The heads' patterns when the owned layer <paramref name="layerIndex"/> should run sparse for a span
    /// of <paramref name="rows"/> queries ending at key <paramref name="keyLength"/>; null for dense: no
    /// config, a decode step (one query), or a span so short that every head's pattern would select all keys.
    /// </summary>
    private HeadPattern[]? SparsePatternsFor(int layerIndex, long rows, long keyLength)
    {
        if (_layerPatterns is null || rows < 2 || keyLength > int.MaxValue)
        {
            return null;
        }

        var patterns = _layerPatterns[layerIndex];
        return patterns.All(p => SparseHeadPlan.SelectsEverything(p, (int)keyLength)) ? null : patterns;
    }

    /// <summary>Rows <c>[start, start + rows)</c> of a tensor of <paramref name="total"/> rows as a view; null when that is the whole tensor (use it directly).</summary>
    private static IDeviceTensor? Rows(IDeviceTensor tensor, long start, long rows, long total)
        => start == 0 && rows == total ? null : tensor.SliceRows(start, rows);

    private void CheckSequence(SequenceKvCache sequence, long tokens)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (!ReferenceEquals(sequence.Owner, this))
        {
            throw new ArgumentException($"the sequence was created by another stage (layers {sequence.Layers}); create it with this stage's CreateSequence", nameof(sequence));
        }

        if (tokens < 1)
        {
            throw new ArgumentException("the span is empty: a span needs at least 1 token", nameof(sequence));
        }

        if (sequence.Length + tokens > sequence.Capacity)
        {
            throw new ArgumentException(
                $"a span of {tokens} tokens at position {sequence.Length} needs {sequence.Length + tokens} cache rows but the sequence's KV capacity is {sequence.Capacity} tokens",
                nameof(sequence));
        }
    }

    private static void ValidateSpec(ModelSpec spec)
    {
        if (spec.QueryHeadCount < 1 || spec.KeyValueHeadCount < 1 || spec.QueryHeadCount % spec.KeyValueHeadCount != 0)
        {
            throw new ArgumentException(
                $"{spec.QueryHeadCount} query heads must be a positive multiple of {spec.KeyValueHeadCount} KV heads",
                nameof(spec));
        }

        if (spec.HeadDim < 2 || spec.HeadDim % 2 != 0)
        {
            throw new ArgumentException($"head_dim {spec.HeadDim} must be even and at least 2", nameof(spec));
        }
    }
}
