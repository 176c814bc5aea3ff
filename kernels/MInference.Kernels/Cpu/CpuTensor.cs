using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MInference.Kernels.Backends;
using MInference.Shared.Models;

namespace MInference.Kernels.Cpu;

/// <summary>
/// An f32 row-major tensor in pinned host memory. Pinning lets the kernels hold raw pointers across
/// worker threads without fixing arrays per call; row views share the parent's array.
/// </summary>
public sealed unsafe class CpuTensor : IDeviceTensor
{
    private readonly float[] _storage;
    private readonly long _offset;
    private float[]? _packedForLinear;

    private CpuTensor(float[] storage, long offset, long rows, int columns, bool isWeight, bool ownsStorage)
    {
        _storage = storage;
        _offset = offset;
        Rows = rows;
        Columns = columns;
        IsWeight = isWeight;
        OwnsStorage = ownsStorage;
    }

    public long Rows { get; }

    public int Columns { get; }

    public TensorDType DType => TensorDType.Float32;

    /// <summary>Rows * Columns.</summary>
    public long ElementCount => Rows * Columns;

    /// <summary>True for tensors made by UploadWeight: immutable, so their packed GEMM form can be cached.</summary>
    internal bool IsWeight { get; }

    internal bool OwnsStorage { get; }

    /// <summary>Address of element [0, 0]; valid for the tensor's lifetime because the storage is pinned.</summary>
    internal float* Pointer => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage)) + _offset;

    /// <summary>All elements as one span (rows are contiguous).</summary>
    public Span<float> AsSpan() => new(Pointer, checked((int)ElementCount));

    /// <summary>One row's elements.</summary>
    public Span<float> Row(long row)
    {
        if ((ulong)row >= (ulong)Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(row), row, $"row must be in [0, {Rows})");
        }

        return new Span<float>(Pointer + (row * Columns), Columns);
    }

    internal static CpuTensor Allocate(long rows, int columns, bool isWeight)
    {
        if (rows <= 0 || columns <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), $"tensor shape [{rows}, {columns}] must have positive dimensions");
        }

        var count = rows * columns;
        if (count > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(
                nameof(rows),
                $"tensor [{rows}, {columns}] holds {count} elements, past the CPU backend's limit of {Array.MaxLength} per tensor");
        }

        var storage = GC.AllocateUninitializedArray<float>((int)count, pinned: true);
        return new CpuTensor(storage, 0, rows, columns, isWeight, ownsStorage: true);
    }

    public IDeviceTensor SliceRows(long rowStart, long rowCount) => Slice(rowStart, rowCount);

    /// <summary>A view of rows <c>[rowStart, rowStart + rowCount)</c> sharing this tensor's storage.</summary>
    public CpuTensor Slice(long rowStart, long rowCount)
    {
        if (rowStart < 0 || rowCount <= 0 || rowStart + rowCount > Rows)
        {
            throw new ArgumentOutOfRangeException(
                nameof(rowStart),
                $"rows [{rowStart}, {rowStart + rowCount}) are outside the tensor's {Rows} rows");
        }

        return new CpuTensor(_storage, _offset + (rowStart * Columns), rowCount, Columns, IsWeight, ownsStorage: false);
    }

    /// <summary>The weight packed into GEMM panels, made on first use and kept (weights never change).</summary>
    internal float[] GetPackedForLinear()
    {
        if (!IsWeight)
        {
            return CpuGemm.Pack(this);
        }

        return _packedForLinear ??= CpuGemm.Pack(this);
    }

    public void Dispose()
    {
        // Managed storage: nothing to free eagerly; dropping the packed copy lets it go sooner.
        _packedForLinear = null;
    }
}
