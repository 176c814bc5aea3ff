using MInference.Kernels.Backends;
using MInference.Shared.Models;

namespace MInference.Engine;

/// <summary>
/// Checks each tensor's shape against what the spec implies and uploads its raw bytes; keeps what it
/// uploaded so a failed load can free it.
/// </summary>
internal sealed class WeightUploader(IModelWeights weights, IComputeBackend backend)
{
    private readonly List<IDeviceTensor> _uploaded = [];

    public IDeviceTensor Matrix(string name, int rows, int columns) => Upload(name, [rows, columns], rows, columns);

    public IDeviceTensor Vector(string name, int length) => Upload(name, [length], 1, length);

    public void DisposeAll()
    {
        foreach (var tensor in _uploaded)
        {
            tensor.Dispose();
        }
    }

    private IDeviceTensor Upload(string name, long[] expectedShape, long rows, int columns)
    {
        var info = weights.Describe(name);
        if (!info.Shape.SequenceEqual(expectedShape))
        {
            throw new ModelFormatException(
                $"tensor '{name}' has shape [{string.Join(", ", info.Shape)}] but the model spec needs [{string.Join(", ", expectedShape)}]");
        }

        var tensor = backend.UploadWeight(weights.GetBytes(name), info.DType, rows, columns);
        _uploaded.Add(tensor);
        return tensor;
    }
}
