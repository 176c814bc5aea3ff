namespace MInference.Kernels.Cuda;

/// <summary>The dense causal attention kernels of kernels/cuda.</summary>
public enum FlashAttentionKernel
{
    /// <summary>flash_attention_mma.cu: mma.sync bf16 tensor cores, cp.async double buffering.</summary>
    TensorCore,

    /// <summary>flash_attention.cu: CUDA cores only; the simple first version, kept as a cross-check.</summary>
    Simple,
}
