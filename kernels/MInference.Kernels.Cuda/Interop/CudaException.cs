using System.Runtime.InteropServices;

namespace MInference.Kernels.Cuda.Interop;

/// <summary>A CUDA driver or cuBLAS call that returned an error; the message names the call and the code.</summary>
public class CudaException : Exception
{
    public CudaException()
    {
    }

    public CudaException(string message)
        : base(message)
    {
    }

    public CudaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CudaException(string call, int code, string codeName)
        : base($"{call} failed with {codeName} ({code})")
    {
        Call = call;
        Code = code;
        CodeName = codeName;
    }

    /// <summary>The API function (and its subject, e.g. a kernel name) that failed.</summary>
    public string? Call { get; }

    public int Code { get; }

    public string? CodeName { get; }

    internal const int OutOfMemory = 2;

    /// <summary>Throws unless <paramref name="result"/> is CUDA_SUCCESS.</summary>
    internal static void Check(int result, string call)
    {
        if (result != 0)
        {
            Throw(result, call);
        }
    }

    private static void Throw(int result, string call) => throw new CudaException(call, result, NameOf(result));

    internal static string NameOf(int result)
    {
        try
        {
            if (CudaDriver.GetErrorName(result, out var name) == 0 && name != 0)
            {
                return Marshal.PtrToStringUTF8(name) ?? $"CUresult {result}";
            }
        }
        catch (DllNotFoundException)
        {
        }

        return $"CUresult {result}";
    }
}
