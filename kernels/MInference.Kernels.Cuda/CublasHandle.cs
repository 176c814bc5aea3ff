using System.Runtime.InteropServices;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>A cuBLAS handle bound to one stream; GEMMs in bf16 with f32 accumulation.</summary>
public sealed unsafe class CublasHandle : SafeHandle
{
    private readonly CudaContext _context;

    public CublasHandle(CudaContext context, CudaStream stream)
        : base(0, ownsHandle: true)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _context = context;
        context.MakeCurrent();
        Cublas.Check(Cublas.Create(out var cublas), "cublasCreate_v2");
        SetHandle(cublas);
        Cublas.Check(Cublas.SetStream(cublas, stream.Value), "cublasSetStream_v2");
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The library file that was loaded (libcublas.so.13 or .12).</summary>
    public static string? LibraryPath => Cublas.LoadedFrom;

    /// <summary>
    /// Row-major <c>out[n, m] = in[n, k] · w[m, k]ᵀ</c>, all bf16, f32 compute. cuBLAS is column-major:
    /// the row-major bytes of w, in and out read there as k×m, k×n and m×n matrices, and
    /// outᵀ = w · inᵀ becomes C(m×n) = Aᵀ(m×k) · B(k×n) with A = w's bytes (ld k), B = in's (ld k), ld C = m.
    /// </summary>
    public void GemmBf16RowMajorTransposedWeight(ulong input, ulong weight, ulong output, int n, int m, int k)
        => Gemm(input, weight, output, Cublas.DataTypeBF16, n, m, k);

    /// <summary>As <see cref="GemmBf16RowMajorTransposedWeight"/> with an f32 output (logits, where bf16 rounding would create ties).</summary>
    public void GemmBf16ToF32RowMajorTransposedWeight(ulong input, ulong weight, ulong output, int n, int m, int k)
        => Gemm(input, weight, output, Cublas.DataTypeF32, n, m, k);

    private void Gemm(ulong input, ulong weight, ulong output, int outputType, int n, int m, int k)
    {
        _context.MakeCurrent();
        var alpha = 1f;
        var beta = 0f;
        Cublas.Check(
            Cublas.GemmEx(
                handle, Cublas.OpT, Cublas.OpN, m, n, k,
                &alpha, weight, Cublas.DataTypeBF16, k,
                input, Cublas.DataTypeBF16, k,
                &beta, output, outputType, m,
                Cublas.ComputeF32, Cublas.GemmDefault),
            $"cublasGemmEx(m={m}, n={n}, k={k})");
    }

    protected override bool ReleaseHandle() =>
        CudaDriver.CtxSetCurrent(_context.Handle) == 0 && Cublas.Destroy(handle) == 0;
}
