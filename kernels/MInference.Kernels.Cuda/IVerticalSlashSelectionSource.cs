using MInference.Kernels.Sparse;

namespace MInference.Kernels.Cuda;

/// <summary>
/// Supplies the Vertical-Slash selections of a layer's heads in place of the ones estimated from the
/// span's Q/K (see <see cref="CudaBackend.VerticalSlashSelectionSource"/>): benchmarks use it to run the
/// whole model on DESIGN section 6's fixed <c>realistic</c> index instead of the near-uniform one random
/// weights produce.
/// </summary>
public interface IVerticalSlashSelectionSource
{
    /// <summary>
    /// One selection per entry of <paramref name="heads"/>, for the span <c>[spanStart, spanStart + spanLength)</c>
    /// over keys <c>[0, spanStart + spanLength)</c>, with (at most) the head's clamped budgets.
    /// </summary>
    IReadOnlyList<VerticalSlashSelection> Select(int spanStart, int spanLength, IReadOnlyList<int> heads, IReadOnlyList<(int Verticals, int Slashes)> budgets);
}
