using System.Runtime.InteropServices;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>A loaded fatbin/cubin/PTX image (cuModuleLoadData) and the kernels looked up in it.</summary>
public sealed unsafe class CudaModule : SafeHandle
{
    /// <summary>Environment variable naming the fatbin; otherwise it is looked for next to this assembly.</summary>
    public const string FatbinVariable = "MINFERENCE_CUDA_FATBIN";

    public const string FatbinFileName = "minference_kernels.fatbin";

    private readonly CudaContext _context;

    public CudaModule(CudaContext context, ReadOnlySpan<byte> image)
        : base(0, ownsHandle: true)
    {
        if (image.IsEmpty)
        {
            throw new ArgumentException("module image is empty", nameof(image));
        }

        _context = context;
        context.MakeCurrent();
        fixed (byte* p = image)
        {
            CudaException.Check(CudaDriver.ModuleLoadData(out var module, p), "cuModuleLoadData");
            SetHandle(module);
        }
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The fatbin path: <see cref="FatbinVariable"/> if set, else next to this assembly.</summary>
    public static string LocateFatbin()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(FatbinVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return File.Exists(fromEnvironment)
                ? fromEnvironment
                : throw new FileNotFoundException($"{FatbinVariable} names {fromEnvironment}, which does not exist", fromEnvironment);
        }

        var besideAssembly = Path.Combine(AppContext.BaseDirectory, FatbinFileName);
        return File.Exists(besideAssembly)
            ? besideAssembly
            : throw new FileNotFoundException(
                $"{FatbinFileName} not found next to the assembly ({AppContext.BaseDirectory}) and {FatbinVariable} is unset; build kernels/cuda with cmake",
                besideAssembly);
    }

    public CudaKernel GetKernel(string name)
    {
        _context.MakeCurrent();
        CudaException.Check(CudaDriver.ModuleGetFunction(out var function, handle, name), $"cuModuleGetFunction({name})");
        return new CudaKernel(name, function);
    }

    protected override bool ReleaseHandle() =>
        CudaDriver.CtxSetCurrent(_context.Handle) == 0 && CudaDriver.ModuleUnload(handle) == 0;
}
