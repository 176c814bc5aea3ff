namespace MInference.Shared.Models;

/// <summary>
/// Read access to a model's tensors by their Hugging Face names
/// (<c>model.embed_tokens.weight</c>, <c>model.layers.{i}.self_attn.q_proj.weight</c>, ...).
/// The safetensors loader implements it over memory-mapped files; tests may implement it in memory.
/// </summary>
public interface IModelWeights : IDisposable
{
    ModelSpec Spec { get; }

    bool Contains(string tensorName);

    /// <summary>Dtype and shape of a tensor; throws <see cref="ModelFormatException"/> naming the tensor when it is missing.</summary>
    TensorInfo Describe(string tensorName);

    /// <summary>The tensor's raw little-endian bytes in its stored dtype (no copy for memory-mapped files).</summary>
    ReadOnlySpan<byte> GetBytes(string tensorName);

    /// <summary>Converts the tensor to f32 into <paramref name="destination"/>, whose length must equal the element count.</summary>
    void ReadAsFloat32(string tensorName, Span<float> destination);
}

/// <summary>Dtype and shape of one stored tensor.</summary>
public sealed record TensorInfo(string Name, TensorDType DType, long[] Shape)
{
    public long ElementCount => ShapeElements.Count(Shape);
}
