using System.Globalization;

namespace MInference.Shared.Patterns;

/// <summary>
/// One query head's pattern and its sizes. Build it with the factories, which reject zero or
/// negative sizes. The two size slots mean, by kind: A-shape (n_init, n_local); Vertical-Slash
/// (verticals v, slashes s); Block-Sparse (top-k key blocks, unused); Dense (unused, unused).
/// </summary>
public readonly record struct HeadPattern
{
    /// <summary>MInference's default for a head a config does not list: VS with v = 1000, s = 6096.</summary>
    public static readonly HeadPattern Default = VerticalSlash(1000, 6096);

    /// <summary>MInference runs block-sparse heads with the top 100 key blocks.</summary>
    public const int DefaultTopBlocks = 100;

    private HeadPattern(SparsePatternKind kind, int first, int second)
    {
        Kind = kind;
        First = first;
        Second = second;
    }

    public SparsePatternKind Kind { get; }

    /// <summary>n_init (A-shape), v (VS), top-k blocks (block-sparse); 0 for dense.</summary>
    public int First { get; }

    /// <summary>n_local (A-shape), s (VS); 0 otherwise.</summary>
    public int Second { get; }

    /// <summary>A-shape: keys <c>[0, n_init)</c> plus the <c>n_local</c> keys ending at the query.</summary>
    public int InitKeys => Kind == SparsePatternKind.AShape ? First : throw WrongKind(SparsePatternKind.AShape);

    public int LocalKeys => Kind == SparsePatternKind.AShape ? Second : throw WrongKind(SparsePatternKind.AShape);

    /// <summary>VS: the vertical-column budget v before clamping.</summary>
    public int Verticals => Kind == SparsePatternKind.VerticalSlash ? First : throw WrongKind(SparsePatternKind.VerticalSlash);

    /// <summary>VS: the slash-diagonal budget s before clamping.</summary>
    public int Slashes => Kind == SparsePatternKind.VerticalSlash ? Second : throw WrongKind(SparsePatternKind.VerticalSlash);

    /// <summary>Block-sparse: key blocks of 64 kept per query block of 64 (the diagonal block included).</summary>
    public int TopBlocks => Kind == SparsePatternKind.BlockSparse ? First : throw WrongKind(SparsePatternKind.BlockSparse);

    public static HeadPattern Dense { get; } = new(SparsePatternKind.Dense, 0, 0);

    public static HeadPattern AShape(int initKeys, int localKeys)
        => new(SparsePatternKind.AShape, Positive(initKeys, "n_init"), Positive(localKeys, "n_local"));

    public static HeadPattern VerticalSlash(int verticals, int slashes)
        => new(SparsePatternKind.VerticalSlash, Positive(verticals, "vertical size"), Positive(slashes, "slash size"));

    public static HeadPattern BlockSparse(int topBlocks = DefaultTopBlocks)
        => new(SparsePatternKind.BlockSparse, Positive(topBlocks, "top-k blocks"), 0);

    /// <summary>Short form for tables and messages: <c>dense</c>, <c>A-shape(128, 3968)</c>, <c>VS(1000, 6096)</c>, <c>block-sparse(top 100)</c>.</summary>
    public override string ToString() => Kind switch
    {
        SparsePatternKind.Dense => "dense",
        SparsePatternKind.AShape => string.Create(CultureInfo.InvariantCulture, $"A-shape({First}, {Second})"),
        SparsePatternKind.VerticalSlash => string.Create(CultureInfo.InvariantCulture, $"VS({First}, {Second})"),
        SparsePatternKind.BlockSparse => string.Create(CultureInfo.InvariantCulture, $"block-sparse(top {First})"),
        _ => Kind.ToString(),
    };

    private static int Positive(int value, string name)
        => value > 0 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 1, got {value}");

    private InvalidOperationException WrongKind(SparsePatternKind wanted)
        => new($"pattern {this} is not {wanted}");
}
