using MInference.Shared.Generation;
using MInference.Shared.Models;

namespace MInference.Cli.Commands;

/// <summary>
/// The weights <see cref="ModelGenerator"/> would write for (spec, seed), produced on demand in memory
/// instead of read from safetensors: each tensor's bf16 bytes are the same bits the generated files
/// hold, computed in parallel into one reused buffer when asked for. For GPU benchmarks of large
/// shapes (llama3-8b is 16 GB) where writing and re-reading the files would take longer than the run.
/// A span from <see cref="GetBytes"/> is valid until the next call.
/// </summary>
internal sealed class InMemoryGeneratedWeights : IModelWeights
{
    private readonly ulong _seed;
    private readonly Dictionary<string, long[]> _shapes;
    private byte[]? _buffer;

    public InMemoryGeneratedWeights(ModelSpec spec, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        _seed = seed;
        _shapes = ModelTensorNames.Expected(spec).ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);
    }

    public ModelSpec Spec { get; }

    /// <summary>Bytes generated so far (all tensors asked for).</summary>
    public long BytesGenerated { get; private set; }

    public bool Contains(string tensorName) => _shapes.ContainsKey(tensorName);

    public TensorInfo Describe(string tensorName)
        => _shapes.TryGetValue(tensorName, out var shape)
            ? new TensorInfo(tensorName, TensorDType.BFloat16, shape)
            : throw new ModelFormatException($"tensor '{tensorName}' is not part of a generated {Spec.Architecture} model");

    public ReadOnlySpan<byte> GetBytes(string tensorName)
    {
        var info = Describe(tensorName);
        var bytes = checked((int)(info.ElementCount * 2));
        if (_buffer is null || _buffer.Length < bytes)
        {
            _buffer = GC.AllocateUninitializedArray<byte>(bytes, pinned: true);
        }

        var buffer = _buffer;
        var chunks = (info.ElementCount + ModelGenerator.ChunkElements - 1) / ModelGenerator.ChunkElements;
        Parallel.For(
            0L,
            chunks,
            () => new float[ModelGenerator.ChunkElements],
            (chunk, _, values) =>
            {
                var first = chunk * ModelGenerator.ChunkElements;
                var count = (int)Math.Min(ModelGenerator.ChunkElements, info.ElementCount - first);
                ModelGenerator.FillTensor(Spec, _seed, tensorName, info.Shape, first, values.AsSpan(0, count));
                TensorConversion.Float32ToBFloat16(values.AsSpan(0, count), buffer.AsSpan((int)(first * 2), count * 2));
                return values;
            },
            _ => { });
        BytesGenerated += bytes;
        return buffer.AsSpan(0, bytes);
    }

    public void ReadAsFloat32(string tensorName, Span<float> destination)
    {
        var raw = GetBytes(tensorName);
        TensorConversion.ToFloat32(TensorDType.BFloat16, raw, destination);
    }

    public void Dispose() => _buffer = null;
}
