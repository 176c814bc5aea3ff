using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Backends;

/// <summary>
/// The op set a model-shard runtime needs. The CPU reference backend implements it in f32 and is
/// the oracle; the CUDA backend implements the same contracts with bf16 storage and f32 accumulation.
/// Ops check shapes once at the top and throw <see cref="ArgumentException"/> naming the mismatch.
/// All ops are ordered on the backend's one stream; <see cref="Synchronize"/> waits for them.
/// </summary>
public interface IComputeBackend : IDisposable
{
    /// <summary>For logs and benchmark tables, e.g. <c>cpu (2 threads)</c> or <c>cuda:0 NVIDIA H100</c>.</summary>
    string Name { get; }

    /// <summary>The dtype activations and KV caches are stored in (f32 on CPU, bf16 on CUDA).</summary>
    TensorDType ActivationDType { get; }

    /// <summary>Allocates an uninitialised tensor in <see cref="ActivationDType"/>.</summary>
    IDeviceTensor Allocate(long rows, int columns);

    /// <summary>Copies host f32 values into a new tensor, converting to <see cref="ActivationDType"/>.</summary>
    IDeviceTensor Upload(ReadOnlySpan<float> values, long rows, int columns);

    /// <summary>Uploads a weight stored as raw bytes of <paramref name="sourceDType"/>; the backend picks its own storage type.</summary>
    IDeviceTensor UploadWeight(ReadOnlySpan<byte> raw, TensorDType sourceDType, long rows, int columns);

    /// <summary>Copies a tensor back to the host as f32; <paramref name="destination"/> holds Rows * Columns values.</summary>
    void Download(IDeviceTensor source, Span<float> destination);

    /// <summary><c>destination[dstRow + r] = source[srcRow + r]</c> for r in <c>[0, rowCount)</c>; equal column counts.</summary>
    void CopyRows(IDeviceTensor source, long sourceRow, IDeviceTensor destination, long destinationRow, long rowCount);

    /// <summary><c>output[t] = table[tokenIds[t]]</c>; ids outside the table throw.</summary>
    void Embedding(IDeviceTensor table, ReadOnlySpan<int> tokenIds, IDeviceTensor output);

    /// <summary><c>output = input / rms(input) * weight</c> per row; weight is <c>[1, Columns]</c>.</summary>
    void RmsNorm(IDeviceTensor input, IDeviceTensor weight, float epsilon, IDeviceTensor output);

    /// <summary><c>output[n, m] = input[n, k] · weight[m, k]ᵀ (+ bias[1, m])</c>: the layout of HF linear weights.</summary>
    void Linear(IDeviceTensor input, IDeviceTensor weight, IDeviceTensor? bias, IDeviceTensor output);

    /// <summary>
    /// Rotates each <paramref name="headDim"/>-wide head of <paramref name="x"/> in place, row r at
    /// position <c>firstPosition + r</c>, pairing element i with i + headDim/2 (the HF "rotate_half" layout).
    /// </summary>
    void ApplyRope(IDeviceTensor x, int headDim, long firstPosition, RopeFrequencies frequencies);

    /// <summary>Causal GQA attention of a query span over a KV cache; see <see cref="AttentionArguments"/>.</summary>
    void Attention(in AttentionArguments arguments);

    /// <summary>
    /// Pre-fill attention where query head h runs <c>headPatterns[h]</c> (DESIGN section 4): the same
    /// shapes as <see cref="Attention"/>, plus one pattern per query head. Dynamic patterns estimate their
    /// index from this span's queries and the cached keys; a pattern that would select every causal key
    /// runs dense. Backends without sparse kernels throw <see cref="NotSupportedException"/> rather than
    /// silently attending densely, so a configured model never runs the wrong algorithm unnoticed.
    /// </summary>
    void SparseAttention(in AttentionArguments arguments, IReadOnlyList<HeadPattern> headPatterns)
        => throw new NotSupportedException($"backend {Name} has no sparse attention kernels; run it without a pattern config");

    /// <summary><c>output = silu(gate) * up</c>, element-wise.</summary>
    void SwiGlu(IDeviceTensor gate, IDeviceTensor up, IDeviceTensor output);

    /// <summary><c>target += addend</c>, element-wise (the residual connection).</summary>
    void AddInPlace(IDeviceTensor target, IDeviceTensor addend);

    /// <summary>Blocks until every op issued so far has finished.</summary>
    void Synchronize();
}
