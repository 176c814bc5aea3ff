using System.Reflection;
using System.Runtime.InteropServices;

namespace MInference.Kernels.Cuda.Interop;

/// <summary>
/// cuBLAS entry points. The library name "cublas" is resolved at run time to the first of
/// libcublas.so.13 / .so.12 that loads (bare name, then CUDA_HOME and /usr/local/cuda lib64),
/// so one build runs on CUDA 12 and 13 hosts.
/// </summary>
internal static unsafe partial class Cublas
{
    internal const string Library = "cublas";

    internal const int OpN = 0;
    internal const int OpT = 1;
    internal const int DataTypeF32 = 0;
    internal const int DataTypeBF16 = 14;
    internal const int ComputeF32 = 68;
    internal const int GemmDefault = -1;

    private static readonly string[] _candidates = ["libcublas.so.13", "libcublas.so.12"];

    static Cublas() => NativeLibrary.SetDllImportResolver(typeof(Cublas).Assembly, Resolve);

    /// <summary>The file that was loaded, for logs; null until the first call.</summary>
    internal static string? LoadedFrom { get; private set; }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
        {
            return 0;
        }

        var directories = new List<string?> { null };
        var cudaHome = Environment.GetEnvironmentVariable("CUDA_HOME");
        if (!string.IsNullOrEmpty(cudaHome))
        {
            directories.Add(Path.Combine(cudaHome, "lib64"));
        }

        directories.Add("/usr/local/cuda/lib64");
        foreach (var candidate in _candidates)
        {
            foreach (var directory in directories)
            {
                var path = directory is null ? candidate : Path.Combine(directory, candidate);
                if (NativeLibrary.TryLoad(path, out var handle))
                {
                    LoadedFrom = path;
                    return handle;
                }
            }
        }

        throw new DllNotFoundException($"cuBLAS not found: tried {string.Join(", ", _candidates)} on the loader path, CUDA_HOME/lib64 and /usr/local/cuda/lib64");
    }

    [LibraryImport(Library, EntryPoint = "cublasCreate_v2")]
    internal static partial int Create(out nint handle);

    [LibraryImport(Library, EntryPoint = "cublasDestroy_v2")]
    internal static partial int Destroy(nint handle);

    [LibraryImport(Library, EntryPoint = "cublasSetStream_v2")]
    internal static partial int SetStream(nint handle, nint stream);

    [LibraryImport(Library, EntryPoint = "cublasGemmEx")]
    internal static partial int GemmEx(
        nint handle, int transA, int transB, int m, int n, int k,
        float* alpha, ulong a, int aType, int lda, ulong b, int bType, int ldb,
        float* beta, ulong c, int cType, int ldc, int computeType, int algorithm);

    internal static void Check(int status, string call)
    {
        if (status != 0)
        {
            throw new CudaException(call, status, NameOf(status));
        }
    }

    internal static string NameOf(int status) => status switch
    {
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"cublasStatus {status}",
    };
}
