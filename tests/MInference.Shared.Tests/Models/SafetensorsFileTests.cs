using MInference.Shared.Models;
using MInference.Shared.Models.Safetensors;

namespace MInference.Shared.Tests.Models;

public sealed class SafetensorsFileTests : IDisposable
{
    private readonly string _directory = SafetensorsTestFiles.NewDirectory();

    public void Dispose() => Directory.Delete(_directory, true);

    /// <summary>Tensors of all three dtypes and the metadata written by the streaming writer read back byte for byte.</summary>
    [Fact]
    public void Written_tensors_and_metadata_read_back_exactly()
    {
        var random = new Random(7);
        var tensors = new[]
        {
            new TensorInfo("a.bf16", TensorDType.BFloat16, [3, 5]),
            new TensorInfo("b.f16", TensorDType.Float16, [7]),
            new TensorInfo("c.f32", TensorDType.Float32, [2, 2, 3]),
            new TensorInfo("d.empty", TensorDType.Float32, [0, 4]),
        }.Select(info => (info, SafetensorsTestFiles.RandomData(info, random))).ToList();
        var path = Path.Combine(_directory, "x.safetensors");
        SafetensorsTestFiles.WriteFile(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafetensorsFile.Open(path);

        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(tensors.Count, file.Tensors.Count);
        foreach (var (info, data) in tensors)
        {
            var read = file.GetTensor(info.Name).Info;
            Assert.Equal(info.DType, read.DType);
            Assert.Equal(info.Shape, read.Shape);
            Assert.Equal(data, file.GetBytes(info.Name).ToArray());
        }
    }

    /// <summary>Many threads writing disjoint pieces of the tensors produce the same file as one sequential pass.</summary>
    [Fact]
    public void Parallel_piecewise_writes_equal_sequential_content()
    {
        var info = new TensorInfo("big", TensorDType.BFloat16, [64, 100]);
        var data = SafetensorsTestFiles.RandomData(info, new Random(3));
        var path = Path.Combine(_directory, "p.safetensors");
        using (var writer = SafetensorsWriter.Create(path, [info]))
        {
            const int Piece = 256;
            Parallel.For(0, (data.Length + Piece - 1) / Piece, i =>
            {
                var start = i * Piece;
                writer.WriteTensorData("big", start, data.AsSpan(start, Math.Min(Piece, data.Length - start)));
            });
            writer.Complete();
        }

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(data, file.GetBytes("big").ToArray());
    }

    /// <summary>A writer whose tensors were not all filled refuses to complete and leaves no file behind.</summary>
    [Fact]
    public void Incomplete_write_is_refused_and_the_file_removed()
    {
        var path = Path.Combine(_directory, "i.safetensors");
        var writer = SafetensorsWriter.Create(path, [new TensorInfo("t", TensorDType.Float32, [4])]);
        writer.WriteTensorData("t", 0, new byte[8]);

        var ex = Assert.Throws<InvalidOperationException>(writer.Complete);
        writer.Dispose();

        Assert.Contains("'t' received 8 of its 16 bytes", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    /// <summary>A file cut short inside the data section names the file, the tensor and the truncation.</summary>
    [Fact]
    public void Truncated_data_is_reported()
    {
        var path = Path.Combine(_directory, "t.safetensors");
        var info = new TensorInfo("w", TensorDType.BFloat16, [8, 8]);
        SafetensorsTestFiles.WriteFile(path, [(info, SafetensorsTestFiles.RandomData(info, new Random(1)))]);
        using (var stream = new FileStream(path, FileMode.Open))
        {
            stream.SetLength(stream.Length - 10);
        }

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, "w", "truncated");
    }

    /// <summary>A file shorter than the 8-byte length prefix is reported as truncated.</summary>
    [Fact]
    public void File_shorter_than_the_length_prefix_is_reported()
    {
        var path = Path.Combine(_directory, "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, null, "truncated: 3 bytes");
    }

    /// <summary>A header that is not JSON names the file.</summary>
    [Fact]
    public void Bad_header_json_is_reported()
    {
        var path = Path.Combine(_directory, "j.safetensors");
        SafetensorsTestFiles.WriteRaw(path, "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]", new byte[4]);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, null, "not valid JSON");
    }

    /// <summary>A header length larger than the file names the length and the bytes available.</summary>
    [Fact]
    public void Header_length_past_the_end_is_reported()
    {
        var path = Path.Combine(_directory, "h.safetensors");
        SafetensorsTestFiles.WriteRaw(path, "{}", [], declaredHeaderLength: 4096);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, null, "header length 4096 runs past the end of the file (2 bytes");
    }

    /// <summary>A dtype the runtime cannot convert (I64) is rejected by name, naming the tensor.</summary>
    [Fact]
    public void Unsupported_dtype_is_reported()
    {
        var path = Path.Combine(_directory, "d.safetensors");
        SafetensorsTestFiles.WriteRaw(path, "{\"ids\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}", new byte[16]);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, "ids", "dtype 'I64' is not supported");
    }

    /// <summary>Offsets whose span disagrees with shape × dtype size are rejected with both sizes.</summary>
    [Fact]
    public void Offsets_not_matching_the_shape_are_reported()
    {
        var path = Path.Combine(_directory, "s.safetensors");
        SafetensorsTestFiles.WriteRaw(path, "{\"w\": {\"dtype\": \"BF16\", \"shape\": [2, 3], \"data_offsets\": [0, 10]}}", new byte[12]);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, "w", "span 10 bytes but shape [2, 3] of BF16 needs 12");
    }

    /// <summary>Two tensors sharing bytes are rejected, naming both.</summary>
    [Fact]
    public void Overlapping_offsets_are_reported()
    {
        var path = Path.Combine(_directory, "o.safetensors");
        SafetensorsTestFiles.WriteRaw(
            path,
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}",
            new byte[24]);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, "b", "overlap tensor 'a'");
    }

    /// <summary>Offsets pointing past the data section (an inconsistent header) are reported as truncation.</summary>
    [Fact]
    public void Offsets_outside_the_file_are_reported()
    {
        var path = Path.Combine(_directory, "e.safetensors");
        SafetensorsTestFiles.WriteRaw(path, "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [100, 116]}}", new byte[16]);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, "a", "end past the 16 bytes of data");
    }

    /// <summary>A non-string metadata value is rejected.</summary>
    [Fact]
    public void Non_string_metadata_is_reported()
    {
        var path = Path.Combine(_directory, "m.safetensors");
        SafetensorsTestFiles.WriteRaw(path, "{\"__metadata__\": {\"format\": 1}}", []);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));

        AssertNames(ex, path, null, "'format' must be a string");
    }

    private static void AssertNames(ModelFormatException ex, string path, string? tensor, string problem)
    {
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        if (tensor is not null)
        {
            Assert.Contains($"'{tensor}'", ex.Message, StringComparison.Ordinal);
        }

        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }
}
