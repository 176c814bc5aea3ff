using System.Runtime.InteropServices;
using MInference.Engine;
using MInference.Kernels.Backends;
using MInference.Shared.Models;
using MInference.Shared.Models.Safetensors;

namespace MInference.Silo.Devices;

/// <summary>
/// Writes a job's KV cache, one safetensors file per layer (<c>layer-{i:D3}.safetensors</c>, tensors
/// <c>k</c> and <c>v</c> of shape [tokens, kvHeads*headDim], bf16 when the cache holds bf16, f32
/// otherwise), only the positions filled so far. Each file is written under a temporary name and renamed
/// when complete, so a crash leaves no half file under the final name. Call it on the device's turn.
/// </summary>
internal static class KvCacheExporter
{
    /// <summary>Rows copied to host memory at once, so exporting a long document needs no buffer of its size.</summary>
    private const long BlockElements = 1 << 20;

    public static IReadOnlyList<string> Export(IComputeBackend backend, SequenceKvCache cache, string jobId, string directory, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"KvExportDirectory '{directory}' does not exist on this silo");
        }

        var jobDirectory = Path.Combine(directory, jobId);
        var files = new List<string>();
        for (var layer = cache.Layers.Start; layer < cache.Layers.End; layer++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = Path.Combine(jobDirectory, $"layer-{layer:D3}.safetensors");
            var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
            try
            {
                Directory.CreateDirectory(jobDirectory);
                WriteLayer(backend, cache.KeyCache(layer), cache.ValueCache(layer), cache.Length, temporary, layer);
                File.Move(temporary, path, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                TryDelete(temporary);
                throw new IOException($"could not write layer {layer} of job '{jobId}' to '{path}': {e.Message}", e);
            }

            files.Add(path);
        }

        return files;
    }

    private static void WriteLayer(IComputeBackend backend, IDeviceTensor keys, IDeviceTensor values, long tokens, string path, int layer)
    {
        // The cache stores bf16 on GPUs that run bf16; f32 holds every other dtype's values exactly.
        var dtype = keys.DType == TensorDType.BFloat16 ? TensorDType.BFloat16 : TensorDType.Float32;
        long[] shape = [tokens, keys.Columns];
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["layer"] = layer.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        using var writer = SafetensorsWriter.Create(path, [new TensorInfo("k", dtype, shape), new TensorInfo("v", dtype, shape)], metadata);
        WriteRows(backend, writer, "k", keys, tokens, dtype);
        WriteRows(backend, writer, "v", values, tokens, dtype);
        writer.Complete();
    }

    private static void WriteRows(IComputeBackend backend, SafetensorsWriter writer, string name, IDeviceTensor tensor, long tokens, TensorDType dtype)
    {
        var columns = tensor.Columns;
        var blockRows = Math.Max(1, BlockElements / columns);
        var floats = new float[checked((int)(Math.Min(blockRows, tokens) * columns))];
        var bf16 = dtype == TensorDType.BFloat16 ? new byte[floats.Length * sizeof(ushort)] : null;
        var elementBytes = dtype == TensorDType.BFloat16 ? sizeof(ushort) : sizeof(float);
        for (long start = 0; start < tokens; start += blockRows)
        {
            var rows = Math.Min(blockRows, tokens - start);
            var span = floats.AsSpan(0, checked((int)(rows * columns)));
            using (var view = tensor.SliceRows(start, rows))
            {
                backend.Download(view, span);
            }

            var offset = start * columns * elementBytes;
            if (bf16 is not null)
            {
                var bytes = bf16.AsSpan(0, span.Length * sizeof(ushort));
                TensorConversion.Float32ToBFloat16(span, bytes);
                writer.WriteTensorData(name, offset, bytes);
            }
            else
            {
                writer.WriteTensorData(name, offset, MemoryMarshal.AsBytes(span));
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the write already failed and that error is the one to report.
        }
    }
}
