using MInference.Kernels.Cuda.Tests;

[assembly: AssemblyFixture(typeof(CudaFixture))]

// One GPU, one stream: tests run one at a time so they neither race for memory nor interleave work.
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Opens the CUDA backend once for the whole run. Where there is no driver, no device or no fatbin,
/// it records why, and every test skips with that reason instead of passing.
/// </summary>
public sealed class CudaFixture : IDisposable
{
    private readonly CudaBackend? _backend;

    public CudaFixture()
    {
        try
        {
            UnavailableReason = CudaDevice.Probe();
            if (UnavailableReason is null)
            {
                _backend = CudaBackend.Create();
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DllNotFoundException)
        {
            UnavailableReason = e.Message;
        }
    }

    public string? UnavailableReason { get; }

    /// <summary>The backend, or a dynamic skip naming why there is none.</summary>
    public CudaBackend Backend
    {
        get
        {
            if (_backend is null)
            {
                Assert.Skip($"no usable GPU: {UnavailableReason}");
            }

            return _backend;
        }
    }

    public void Dispose() => _backend?.Dispose();
}
