using MInference.Kernels.Backends;
using MInference.Shared.Models;

namespace MInference.Kernels.Cuda;

/// <summary>A row-major bf16 (or f32) tensor in device memory; row views share the parent's buffer.</summary>
public sealed class CudaTensor : IDeviceTensor
{
    private readonly DeviceBuffer? _owned;

    internal CudaTensor(DeviceBuffer owned, long rows, int columns, TensorDType dtype)
        : this(owned.Pointer, rows, columns, dtype) => _owned = owned;

    private CudaTensor(ulong pointer, long rows, int columns, TensorDType dtype)
    {
        Pointer = pointer;
        Rows = rows;
        Columns = columns;
        DType = dtype;
    }

    public long Rows { get; }

    public int Columns { get; }

    public TensorDType DType { get; }

    /// <summary>Device address of element [0, 0].</summary>
    public ulong Pointer { get; }

    public long ElementCount => Rows * Columns;

    public long Bytes => ElementCount * DType.SizeInBytes();

    public IDeviceTensor SliceRows(long rowStart, long rowCount)
    {
        if (rowStart < 0 || rowCount < 0 || rowStart + rowCount > Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(rowStart), $"rows [{rowStart}, {rowStart + rowCount}) outside a tensor of {Rows} rows");
        }

        return new CudaTensor(Pointer + (ulong)(rowStart * Columns * DType.SizeInBytes()), rowCount, Columns, DType);
    }

    public void Dispose() => _owned?.Dispose();

    public override string ToString() => $"cuda {DType} [{Rows}, {Columns}]";
}
