using System.Diagnostics;

namespace MInference.Silo.Diagnostics;

/// <summary>
/// The product's one <see cref="ActivitySource"/> ("MInference"): a span per job attempt, per stage chunk and
/// per data-plane fetch. Orleans propagates the trace context through grain calls when the host enables
/// its activity propagation, so a job's spans on every silo join one trace.
/// </summary>
public static class MInferenceActivitySource
{
    public const string Name = "MInference";

    public static ActivitySource Source { get; } = new(Name);
}
