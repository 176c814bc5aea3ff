namespace MInference.Kernels.Cuda;

/// <summary>Which compute backend <see cref="ComputeBackendFactory"/> should open.</summary>
public enum ComputeDevice
{
    /// <summary>CUDA when a driver, a device and the kernels' fatbin are all present; the CPU otherwise.</summary>
    Auto,

    /// <summary>The CPU reference backend, always.</summary>
    Cpu,

    /// <summary>CUDA, or an error that says what is missing.</summary>
    Cuda,
}
