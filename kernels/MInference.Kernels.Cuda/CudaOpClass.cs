namespace MInference.Kernels.Cuda;

/// <summary>How <see cref="TimedCudaBackend"/> splits GPU time: the three classes a pre-fill's cost is judged by.</summary>
public enum CudaOpClass
{
    /// <summary>Linear layers (cuBLAS GEMMs): projections, MLP, LM head.</summary>
    Gemm,

    /// <summary>Dense and sparse attention kernels, index building included.</summary>
    Attention,

    /// <summary>Everything else: norms, RoPE, SwiGLU, residuals, embedding, copies.</summary>
    Other,
}
