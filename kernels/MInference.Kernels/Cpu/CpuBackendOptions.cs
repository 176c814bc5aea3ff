namespace MInference.Kernels.Cpu;

/// <summary>Settings of the CPU reference backend.</summary>
public sealed class CpuBackendOptions
{
    /// <summary>Default for <see cref="MaxDegreeOfParallelism"/>: every core the process may use.</summary>
    public static int DefaultMaxDegreeOfParallelism => Environment.ProcessorCount;

    /// <summary>Worker threads an op may use at once. Default: <see cref="Environment.ProcessorCount"/>.</summary>
    public int MaxDegreeOfParallelism { get; set; } = DefaultMaxDegreeOfParallelism;

    /// <summary>Throws naming the bad setting.</summary>
    public void Validate()
    {
        if (MaxDegreeOfParallelism < 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(MaxDegreeOfParallelism),
                MaxDegreeOfParallelism,
                "CpuBackendOptions.MaxDegreeOfParallelism must be at least 1");
        }
    }
}
