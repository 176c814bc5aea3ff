namespace MInference.Engine.Evaluation;

/// <summary>
/// The paper's needle heat map as a PNG: one cell per (depth, length), lengths left to right, depths top
/// (0 %) to bottom (100 %), coloured from red (accuracy 0) through yellow to green (accuracy 1); cells
/// never evaluated are grey. Separated by 1-pixel white lines. No text: the axes are stated where the
/// image is shown.
/// </summary>
public static class AccuracyHeatmap
{
    public const int DefaultCellPixels = 24;

    /// <summary><paramref name="accuracy"/>[depth, length] in [0, 1], or NaN for a cell not evaluated.</summary>
    public static byte[] Render(double[,] accuracy, int cellPixels = DefaultCellPixels)
    {
        ArgumentNullException.ThrowIfNull(accuracy);
        ArgumentOutOfRangeException.ThrowIfLessThan(cellPixels, 2);
        var rows = accuracy.GetLength(0);
        var columns = accuracy.GetLength(1);
        if (rows == 0 || columns == 0)
        {
            throw new ArgumentException($"the accuracy grid is {rows} x {columns}; it needs at least one cell", nameof(accuracy));
        }

        var width = columns * cellPixels;
        var height = rows * cellPixels;
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var border = x % cellPixels == cellPixels - 1 || y % cellPixels == cellPixels - 1;
                var (r, g, b) = border ? ((byte)255, (byte)255, (byte)255) : Colour(accuracy[y / cellPixels, x / cellPixels]);
                var at = ((y * width) + x) * 3;
                pixels[at] = r;
                pixels[at + 1] = g;
                pixels[at + 2] = b;
            }
        }

        return PngEncoder.Encode(pixels, width, height);
    }

    /// <summary>Red (0) to yellow (0.5) to green (1); grey for NaN.</summary>
    internal static (byte R, byte G, byte B) Colour(double value)
    {
        if (double.IsNaN(value))
        {
            return (160, 160, 160);
        }

        var v = Math.Clamp(value, 0, 1);
        return v < 0.5
            ? ((byte)220, (byte)(60 + (v * 2 * 160)), (byte)60)
            : ((byte)(220 - ((v - 0.5) * 2 * 170)), (byte)220, (byte)(60 + ((v - 0.5) * 2 * 20)));
    }
}
