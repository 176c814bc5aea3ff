using MInference.Shared.Generation;
using MInference.Shared.Models;
using MInference.Shared.Tokenization;

namespace MInference.Engine.Tests;

public sealed class GeneratedModelTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("minference-engine-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// A generated model opened through the real safetensors loader (bf16 bytes uploaded as they are
    /// stored) runs a tokenized prompt to finite logits that equal those of the same weights converted
    /// to f32 by the loader; and two stages opened on layer ranges [0, 1) and [1, 2) give the same logits.
    /// </summary>
    [Theory]
    [InlineData(ModelShapes.Tiny)]
    [InlineData(ModelShapes.TinyQwen2)]
    public void Generated_model_runs_through_the_real_loader(string shape)
    {
        var directory = Path.Combine(_root, shape);
        var cancellationToken = TestContext.Current.CancellationToken;
        ModelGenerator.Generate(ModelShapes.Get(shape), directory, seed: 7, new ModelGeneratorOptions { ShapeName = shape }, cancellationToken: cancellationToken);
        var tokens = ByteLevelTokenizer.Instance.Encode("The quick brown fox jumps over the lazy dog, again and again, 0123456789.");
        using var backend = EngineTestKit.Backend();

        float[] logits;
        float[] f32Logits;
        using (var weights = SafetensorsModelWeights.Open(directory))
        using (var copy = new Float32CopyWeights(weights))
        {
            var runner = EngineTestKit.Runner(weights, backend);
            logits = runner.Prefill(runner.CreateSequence(tokens.Length), tokens, chunkTokens: 32, cancellationToken: cancellationToken);
            var f32Runner = EngineTestKit.Runner(copy, backend);
            f32Logits = f32Runner.RunSpan(f32Runner.CreateSequence(tokens.Length), tokens, cancellationToken: cancellationToken);
        }

        Assert.Equal(ModelShapes.Get(shape).VocabSize, logits.Length);
        EngineTestKit.AssertClose(f32Logits, logits, "bf16-upload vs loader-f32 logits");

        using var first = SafetensorsModelWeights.Open(directory, 0, 1);
        using var second = SafetensorsModelWeights.Open(directory, 1, 2);
        var sharded = new ModelRunner(
        [
            ModelShard.Load(first, new LayerRange(0, 1), backend, cancellationToken: cancellationToken),
            ModelShard.Load(second, new LayerRange(1, 2), backend, cancellationToken: cancellationToken),
        ]);
        var shardedLogits = sharded.RunSpan(sharded.CreateSequence(tokens.Length), tokens, cancellationToken: cancellationToken);
        EngineTestKit.AssertClose(logits, shardedLogits, "stages opened on layer ranges");
    }
}
