using MInference.Shared.Models;
using MInference.Shared.Models.Safetensors;

namespace MInference.Shared.Tests.Models;

public sealed class SafetensorsModelWeightsTests : IDisposable
{
    private readonly string _directory = SafetensorsTestFiles.NewDirectory();

    public void Dispose() => Directory.Delete(_directory, true);

    /// <summary>A single-file model opens whole; every tensor's bytes and f32 values equal what was written.</summary>
    [Fact]
    public void Single_file_model_serves_every_tensor()
    {
        var spec = SafetensorsTestFiles.TinySpec();
        var written = SafetensorsTestFiles.WriteModel(_directory, spec, seed: 11);

        using var weights = SafetensorsModelWeights.Open(_directory);

        Assert.Equal(spec, weights.Spec);
        Assert.Equal(written.Count, weights.TensorNames.Count);
        foreach (var (name, data) in written)
        {
            Assert.True(weights.Contains(name));
            Assert.Equal(data, weights.GetBytes(name).ToArray());
        }

        var head = weights.ReadAsFloat32(ModelTensorNames.LmHead);
        var expected = new float[head.Length];
        TensorConversion.ToFloat32(TensorDType.BFloat16, written[ModelTensorNames.LmHead], expected);
        Assert.Equal(expected, head);
    }

    /// <summary>Qwen2-style: q/k/v biases are required and present; no lm_head (tied) is required.</summary>
    [Fact]
    public void Qwen2_model_requires_biases_and_no_lm_head()
    {
        var spec = SafetensorsTestFiles.TinySpec(qwen2: true);
        SafetensorsTestFiles.WriteModel(_directory, spec, seed: 12);

        using var weights = SafetensorsModelWeights.Open(_directory);

        Assert.True(weights.Contains(ModelTensorNames.QueryBias(2)));
        Assert.Equal([8L], weights.Describe(ModelTensorNames.KeyBias(0)).Shape);
        Assert.False(weights.Contains(ModelTensorNames.LmHead));
        Assert.Equal(ModelTensorNames.Embedding, ModelTensorNames.OutputHead(spec));
    }

    /// <summary>A sharded model opened for its last layers maps only the shards holding them; other layers are not served.</summary>
    [Fact]
    public void Layer_subset_of_a_sharded_model_opens_only_the_needed_shards()
    {
        var spec = SafetensorsTestFiles.TinySpec();
        // Shard 0: embedding + layer 0; shard 1: layer 1; shard 2: layer 2, final norm, lm_head.
        static int ShardOf(string name) => name switch
        {
            ModelTensorNames.Embedding => 0,
            ModelTensorNames.FinalNorm or ModelTensorNames.LmHead => 2,
            _ => int.Parse(name.Split('.')[2], System.Globalization.CultureInfo.InvariantCulture),
        };
        var written = SafetensorsTestFiles.WriteModel(_directory, spec, seed: 13, ShardOf, shardCount: 3);

        using var weights = SafetensorsModelWeights.Open(_directory, 2, null);

        Assert.Equal([Path.Combine(_directory, SafetensorsIndex.ShardFileName(2, 3))], weights.OpenedFiles);
        Assert.True(weights.Contains(ModelTensorNames.DownProjection(2)));
        Assert.True(weights.Contains(ModelTensorNames.LmHead));
        Assert.False(weights.Contains(ModelTensorNames.Embedding));
        Assert.False(weights.Contains(ModelTensorNames.QueryProjection(1)));
        Assert.Equal(written[ModelTensorNames.UpProjection(2)], weights.GetBytes(ModelTensorNames.UpProjection(2)).ToArray());
        var ex = Assert.Throws<ModelFormatException>(() => weights.Describe(ModelTensorNames.QueryProjection(1)));
        Assert.Contains("layers [2, 3)", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>The first stage of a sharded model gets the embedding and its layers but not the head.</summary>
    [Fact]
    public void First_stage_gets_embedding_and_not_the_head()
    {
        var spec = SafetensorsTestFiles.TinySpec();
        SafetensorsTestFiles.WriteModel(_directory, spec, seed: 14, name => name.Contains("layers.2", StringComparison.Ordinal) || !name.Contains("layers", StringComparison.Ordinal) ? 1 : 0, shardCount: 2);

        using var weights = SafetensorsModelWeights.Open(_directory, 0, 2);

        Assert.True(weights.Contains(ModelTensorNames.Embedding));
        Assert.False(weights.Contains(ModelTensorNames.FinalNorm));
        Assert.Equal(2, weights.OpenedFiles.Count);
    }

    /// <summary>A tensor missing from the single file is reported with the file, the tensor and its expected shape.</summary>
    [Fact]
    public void Missing_tensor_is_reported()
    {
        var spec = SafetensorsTestFiles.TinySpec();
        var missing = ModelTensorNames.GateProjection(1);
        SafetensorsTestFiles.WriteModel(_directory, spec, seed: 15, edit: t => t.Name == missing ? null : t);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsModelWeights.Open(_directory));

        Assert.Contains(Path.Combine(_directory, "model.safetensors"), ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{missing}': is missing (expected shape [24, 16])", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A tensor missing from the shard index is reported with the index file.</summary>
    [Fact]
    public void Tensor_missing_from_the_index_is_reported()
    {
        var spec = SafetensorsTestFiles.TinySpec();
        var missing = ModelTensorNames.FinalNorm;
        SafetensorsTestFiles.WriteModel(_directory, spec, seed: 16, _ => 0, shardCount: 1, edit: t => t.Name == missing ? null : t);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsModelWeights.Open(_directory));

        Assert.Contains(SafetensorsIndex.FileName, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{missing}': is missing from the weight_map", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A tensor whose shape disagrees with the config names both shapes.</summary>
    [Fact]
    public void Wrong_shape_is_reported_with_expected_and_actual()
    {
        var spec = SafetensorsTestFiles.TinySpec();
        var bad = ModelTensorNames.KeyProjection(0);
        SafetensorsTestFiles.WriteModel(_directory, spec, seed: 17, edit: t => t.Name == bad ? t with { Shape = [16, 16] } : t);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsModelWeights.Open(_directory));

        Assert.Contains($"'{bad}': has shape [16, 16] but the config implies [8, 16]", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A model tensor in an unsupported dtype is rejected when its file is opened, naming the dtype.</summary>
    [Fact]
    public void Wrong_dtype_in_a_model_is_reported()
    {
        var spec = SafetensorsTestFiles.TinySpec();
        ModelConfigWriter.WriteDirectory(spec, _directory);
        SafetensorsTestFiles.WriteRaw(
            Path.Combine(_directory, "model.safetensors"),
            "{\"model.embed_tokens.weight\": {\"dtype\": \"F64\", \"shape\": [40, 16], \"data_offsets\": [0, 5120]}}",
            new byte[5120]);

        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsModelWeights.Open(_directory));

        Assert.Contains("'model.embed_tokens.weight': dtype 'F64' is not supported", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>An out-of-range layer request is a programming error, not a format error.</summary>
    [Fact]
    public void Layer_range_outside_the_model_is_rejected()
    {
        SafetensorsTestFiles.WriteModel(_directory, SafetensorsTestFiles.TinySpec(), seed: 18);

        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => SafetensorsModelWeights.Open(_directory, 1, 4));
        Assert.Contains("[1, 4)", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>ReadAsFloat32 refuses a destination of the wrong length.</summary>
    [Fact]
    public void Read_into_wrong_sized_destination_is_rejected()
    {
        SafetensorsTestFiles.WriteModel(_directory, SafetensorsTestFiles.TinySpec(), seed: 19);
        using var weights = SafetensorsModelWeights.Open(_directory);

        Assert.Throws<ArgumentException>(() => weights.ReadAsFloat32(ModelTensorNames.FinalNorm, new float[15]));
    }
}
