using System.Diagnostics;
using System.Runtime.InteropServices;
using MInference.Kernels.Cuda.Transfer;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>CUDA IPC between two processes on one GPU: this test process exports, a child process imports.</summary>
public sealed class TransferIpcTests(CudaFixture fixture)
{
    /// <summary>Names the request file of <see cref="TransferIpcChild"/>; the child writes its result beside it.</summary>
    internal const string RequestVariable = "MINFERENCE_TRANSFER_IPC_REQUEST";

    /// <summary>
    /// An activation exported through CUDA IPC (only the 144-byte descriptor leaves this process) is copied
    /// out by a child process on the same GPU bit-exact; after the child acknowledged (exited) the export is
    /// freed and its bytes leave this process's device accounting.
    /// </summary>
    [Fact]
    public async Task Child_process_copies_an_exported_activation_out_exactly()
    {
        var gpu = fixture.Backend;
        var ct = TestContext.Current.CancellationToken;
        var seed = FreshSeed();
        const long Rows = 333;
        const int Columns = 256;
        var values = RoundToBFloat16(RandomValues(new Random(seed), Rows * Columns, scale: 3f));
        using var tensor = gpu.Upload(values, Rows, Columns);
        var folder = Directory.CreateTempSubdirectory("minference-ipc-").FullName;
        try
        {
            var request = Path.Combine(folder, "request.bin");
            var before = gpu.Context.AllocatedBytes;
            var export = CudaIpcExport.Create(gpu, tensor);
            await File.WriteAllBytesAsync(request, export.Descriptor.Encode(), ct);

            var (exitCode, log) = await RunChildAsync(request, ct);
            export.Dispose();

            var result = TransferIpcChild.ResultPath(request);
            Assert.True(File.Exists(result), $"the child wrote no result (exit code {exitCode}):\n{log}");
            var actual = MemoryMarshal.Cast<byte, float>(await File.ReadAllBytesAsync(result, ct)).ToArray();
            Assert.Equal(values.Length, actual.Length);
            for (var i = 0; i < values.Length; i++)
            {
                if (BitConverter.SingleToUInt32Bits(values[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                {
                    Assert.Fail($"seed {seed}: element {i} came back from the child as {actual[i]}, expected {values[i]}");
                }
            }

            Assert.Equal(before, gpu.Context.AllocatedBytes);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A process cannot open its own IPC handles: the import refuses with a message that says to hand over in process.</summary>
    [Fact]
    public void Importing_an_export_of_this_process_is_refused()
    {
        var gpu = fixture.Backend;
        using var tensor = gpu.Upload(RandomValues(new Random(FreshSeed()), 8 * 64), 8, 64);
        using var export = CudaIpcExport.Create(gpu, tensor);

        var error = Assert.Throws<InvalidOperationException>(() => CudaIpcImport.CopyOut(gpu, export.Descriptor));

        Assert.Contains("in process", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Re-launches this test executable running only <see cref="TransferIpcChild"/>; returns its exit code and output.</summary>
    private static Task<(int ExitCode, string Log)> RunChildAsync(string request, CancellationToken cancellationToken)
        => RunChildAsync($"{typeof(TransferIpcChild).FullName}.{nameof(TransferIpcChild.Copies_out_the_parents_export)}", RequestVariable, request, cancellationToken);

    /// <summary>Re-launches this test executable running only the test <paramref name="method"/> (full name), with <paramref name="variable"/> naming the request file.</summary>
    internal static async Task<(int ExitCode, string Log)> RunChildAsync(string method, string variable, string request, CancellationToken cancellationToken)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("no process path to re-launch the tests from");
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(typeof(TransferIpcChild).Assembly.Location);
        }

        start.ArgumentList.Add("-method");
        start.ArgumentList.Add(method);
        start.ArgumentList.Add("-noColor");
        start.Environment[variable] = request;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {host}");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);

        // A guard against a hung child, not a timing assertion.
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        guard.CancelAfter(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(guard.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output + await errors);
    }
}

/// <summary>The child side of <see cref="TransferIpcTests"/>: skipped unless that test started this process.</summary>
public sealed class TransferIpcChild(CudaFixture fixture)
{
    internal static string ResultPath(string request) => request + ".out";

    /// <summary>
    /// In the child process: opens the parent's export from the request file, copies it onto this process's
    /// GPU backend and writes the values (f32) beside the request for the parent to compare.
    /// </summary>
    [Fact]
    public void Copies_out_the_parents_export()
    {
        var request = Environment.GetEnvironmentVariable(TransferIpcTests.RequestVariable);
        if (string.IsNullOrEmpty(request))
        {
            Assert.Skip($"runs only as the child process TransferIpcTests starts ({TransferIpcTests.RequestVariable} is unset)");
        }

        var gpu = fixture.Backend;
        var descriptor = CudaIpcDescriptor.Decode(File.ReadAllBytes(request));
        using var tensor = CudaIpcImport.CopyOut(gpu, descriptor);
        var values = Download(gpu, tensor);
        File.WriteAllBytes(ResultPath(request), MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }
}
