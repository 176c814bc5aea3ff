using MInference.Shared.Models;

namespace MInference.Kernels.Backends;

/// <summary>
/// A row-major 2-D tensor <c>[Rows, Columns]</c> that lives on a backend's device (host memory for
/// the CPU backend, GPU memory for CUDA). Everything the runtime moves between ops is 2-D:
/// activations are <c>[tokens, features]</c>, Q is <c>[tokens, heads * headDim]</c>, a KV cache is
/// <c>[capacity, kvHeads * headDim]</c>. Row views share storage with their parent and do not own it.
/// </summary>
public interface IDeviceTensor : IDisposable
{
    long Rows { get; }

    int Columns { get; }

    TensorDType DType { get; }

    /// <summary>A view of rows <c>[rowStart, rowStart + rowCount)</c>; disposing it frees nothing.</summary>
    IDeviceTensor SliceRows(long rowStart, long rowCount);
}
