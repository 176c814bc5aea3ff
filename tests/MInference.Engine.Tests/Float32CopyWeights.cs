using System.Runtime.InteropServices;
using MInference.Shared.Models;

namespace MInference.Engine.Tests;

/// <summary>
/// Every tensor of another <see cref="IModelWeights"/>, converted to f32 by that source's own
/// ReadAsFloat32 and held in memory: a second path to the same values as the backend's raw-byte upload.
/// </summary>
internal sealed class Float32CopyWeights : IModelWeights
{
    private readonly Dictionary<string, (TensorInfo Info, byte[] Bytes)> _tensors = [];

    public Float32CopyWeights(IModelWeights source)
    {
        Spec = source.Spec;
        foreach (var expected in ModelTensorNames.Expected(source.Spec))
        {
            var values = new float[expected.ElementCount];
            source.ReadAsFloat32(expected.Name, values);
            _tensors[expected.Name] = (new TensorInfo(expected.Name, TensorDType.Float32, expected.Shape), MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
    }

    public ModelSpec Spec { get; }

    public bool Contains(string tensorName) => _tensors.ContainsKey(tensorName);

    public TensorInfo Describe(string tensorName)
        => _tensors.TryGetValue(tensorName, out var tensor) ? tensor.Info : throw new ModelFormatException("<memory>", tensorName, "tensor is missing");

    public ReadOnlySpan<byte> GetBytes(string tensorName) => _tensors[Describe(tensorName).Name].Bytes;

    public void ReadAsFloat32(string tensorName, Span<float> destination) => MemoryMarshal.Cast<byte, float>(GetBytes(tensorName)).CopyTo(destination);

    public void Dispose()
    {
    }
}
