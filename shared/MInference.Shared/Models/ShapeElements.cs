namespace MInference.Shared.Models;

/// <summary>Element counts of tensor shapes, for the records that describe stored and expected tensors.</summary>
internal static class ShapeElements
{
    /// <summary>The product of the dimensions; 1 for a scalar (no dimensions).</summary>
    public static long Count(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (var dim in shape)
        {
            count *= dim;
        }

        return count;
    }
}
