namespace MInference.Engine;

/// <summary>The decoder layers <c>[Start, End)</c> a stage owns.</summary>
public readonly record struct LayerRange(int Start, int End)
{
    public int Count => End - Start;

    public bool Contains(int layer) => layer >= Start && layer < End;

    public override string ToString() => $"[{Start}, {End})";
}
