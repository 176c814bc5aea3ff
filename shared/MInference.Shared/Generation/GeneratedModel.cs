using MInference.Shared.Models;

namespace MInference.Shared.Generation;

/// <summary>What <see cref="ModelGenerator"/> wrote.</summary>
public sealed record GeneratedModel(string Directory, ModelSpec Spec, ulong Seed, IReadOnlyList<string> WeightFiles, int TensorCount, long TensorBytes);
