using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>One kernel argument as the 8 bytes the driver reads its value from (smaller types in the low bytes).</summary>
public readonly struct KernelArgument
{
    private KernelArgument(ulong bits) => Bits = bits;

    internal ulong Bits { get; }

    public static implicit operator KernelArgument(ulong value) => new(value);

    public static implicit operator KernelArgument(long value) => new((ulong)value);

    public static implicit operator KernelArgument(int value) => new((uint)value);

    public static implicit operator KernelArgument(float value) => new(BitConverter.SingleToUInt32Bits(value));

    public static KernelArgument FromUInt64(ulong value) => new(value);

    public static KernelArgument FromInt64(long value) => new((ulong)value);

    public static KernelArgument FromInt32(int value) => new((uint)value);

    public static KernelArgument FromSingle(float value) => new(BitConverter.SingleToUInt32Bits(value));
}

/// <summary>A kernel of a loaded module (a CUfunction is owned by its module: nothing to free).</summary>
public sealed unsafe class CudaKernel
{
    internal CudaKernel(string name, nint function)
    {
        Name = name;
        Function = function;
    }

    public string Name { get; }

    internal nint Function { get; }

    /// <summary>Lets launches ask for more than the default 48 KiB of dynamic shared memory.</summary>
    public void SetMaxDynamicSharedMemory(int bytes)
    {
        const int MaxDynamicSharedSizeBytes = 8;
        CudaException.Check(CudaDriver.FuncSetAttribute(Function, MaxDynamicSharedSizeBytes, bytes), $"cuFuncSetAttribute({Name}, max dynamic shared memory {bytes})");
    }

    /// <summary>Launches on <paramref name="stream"/>; launch-configuration errors throw naming the kernel.</summary>
    public void Launch(CudaStream stream, (uint X, uint Y) grid, uint blockThreads, uint sharedBytes, params ReadOnlySpan<KernelArgument> arguments)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (grid.X == 0 || grid.Y == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(grid), grid, $"{Name}: empty grid");
        }

        var values = stackalloc ulong[arguments.Length];
        var pointers = stackalloc nint[arguments.Length];
        for (var i = 0; i < arguments.Length; i++)
        {
            values[i] = arguments[i].Bits;
            pointers[i] = (nint)(values + i);
        }

        CudaException.Check(
            CudaDriver.LaunchKernel(Function, grid.X, grid.Y, 1, blockThreads, 1, 1, sharedBytes, stream.Value, pointers, null),
            $"cuLaunchKernel({Name})");
    }
}
