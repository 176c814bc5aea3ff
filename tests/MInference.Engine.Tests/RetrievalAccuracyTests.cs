using System.Text.Json;
using MInference.Engine.Evaluation;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using MInference.Shared.Tokenization;

namespace MInference.Engine.Tests;

/// <summary>
/// The accuracy testbed's shipped model (tests/fixtures/models/retrieval-llama-4m, trained on the GPU
/// machine by deploy/accuracy/train.py): it loads, agrees with transformers, and really retrieves.
/// </summary>
public sealed class RetrievalAccuracyTests
{
    /// <summary>Prompt length of the retrieval checks: long enough that the searched config runs sparse, short enough for CI.</summary>
    private const int PromptTokens = 4096;

    /// <summary>Depths of the needle in the retrieval checks.</summary>
    private static readonly double[] _depths = [0.1, 0.5, 0.9];

    /// <summary>
    /// An 8K NIAH prompt with the needle at depth 0.25 (the second eval grid's 8K, depth 0.25 cell, seed 2:
    /// docs/accuracy/niah-x2.json), the one the first searched config missed (its retrieval head L1H3 ran
    /// block-sparse, see <see cref="RetrievalHeadCoverageTests"/>).
    /// </summary>
    private const int LongPromptTokens = 8192;

    private const double LongPromptDepth = 0.25;

    private const int LongPromptSeed = 2 + (1000 * 11);

    /// <summary>
    /// The engine's last-position logits on the fixture prompt (a 592-token NIAH prompt) agree with
    /// transformers' LlamaForCausalLM (float32, eager attention; computed on the GPU machine from the
    /// same bf16 weights) to 1e-4 relative L2, and both put the expected answer's first byte on top.
    /// </summary>
    [Fact]
    public void Shipped_model_logits_match_transformers()
    {
        var directory = ModelDirectory();
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "transformers-logits.json")));
        var root = document.RootElement;
        var tokenIds = root.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = root.GetProperty("logits").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var answer = root.GetProperty("answer").GetString()!;

        using var weights = SafetensorsModelWeights.Open(directory);
        using var backend = EngineTestKit.Backend();
        var runner = EngineTestKit.Runner(weights, backend);
        var actual = new float[expected.Length];
        Array.Fill(actual, float.NaN);
        actual = runner.RunSpan(runner.CreateSequence(tokenIds.Length), tokenIds, TestContext.Current.CancellationToken);

        EngineTestKit.AssertClose(expected, actual, "retrieval-llama-4m vs transformers", 1e-4);
        Assert.Equal(answer[0], (char)ModelRunner.ArgMax(actual));
        Assert.Equal(answer[0], (char)ModelRunner.ArgMax(expected));
    }

    /// <summary>
    /// With dense attention the model answers NIAH prompts of 4K tokens with the needle at three depths,
    /// and one of 8K tokens with the needle at a quarter of the prompt, exactly (all seven digits and the period),
    /// and the searched config shipped next to the model, which runs these prompts sparse (measured
    /// density at most 60 %), gives the same answers.
    /// </summary>
    [Fact]
    public void Shipped_model_finds_needles_dense_and_with_the_searched_config()
    {
        var directory = ModelDirectory();
        using var weights = SafetensorsModelWeights.Open(directory);
        var tokenizer = TokenizerLoader.Load(directory);
        var searched = PatternConfigJson.Load(Path.Combine(directory, "searched-config.json"));
        using var cpu = EngineTestKit.Backend();
        using var backend = new DensityMeasuringBackend(cpu);
        var dense = new RetrievalEvaluator(EngineTestKit.Runner(weights, backend), tokenizer);
        var sparse = new RetrievalEvaluator(EngineTestKit.Runner(weights, backend, new ModelShardOptions { Patterns = searched }), tokenizer, backend);
        var cancellationToken = TestContext.Current.CancellationToken;

        var samples = _depths
            .Select((depth, i) => RetrievalTaskGenerator.Create(RetrievalTaskKind.Niah, PromptTokens, depth, seed: 500 + i))
            .Append(RetrievalTaskGenerator.Create(RetrievalTaskKind.Niah, LongPromptTokens, LongPromptDepth, LongPromptSeed));
        foreach (var sample in samples)
        {
            var denseOutcome = dense.Run(sample, cancellationToken);
            Assert.True(denseOutcome.Correct, $"dense, {denseOutcome.PromptTokens} tokens: expected '{sample.Answer}', generated '{denseOutcome.Generated}'");
            var sparseOutcome = sparse.Run(sample, cancellationToken);
            Assert.True(sparseOutcome.Correct, $"searched config, {sparseOutcome.PromptTokens} tokens: expected '{sample.Answer}', generated '{sparseOutcome.Generated}'");
            Assert.InRange(sparseOutcome.Density!.Value, 0.01, 0.6);
        }
    }

    /// <summary>
    /// A-shape alone cannot see a needle in the middle of a 4K prompt (its 64 initial and 1024 local keys
    /// do not reach it): the evaluation can tell a pattern that misses the needle from one that keeps it.
    /// </summary>
    [Fact]
    public void A_shape_alone_misses_a_needle_in_the_middle()
    {
        var directory = ModelDirectory();
        using var weights = SafetensorsModelWeights.Open(directory);
        var tokenizer = TokenizerLoader.Load(directory);
        using var backend = EngineTestKit.Backend();
        var aShape = PatternConfig.Uniform(weights.Spec.LayerCount, weights.Spec.QueryHeadCount, EvaluationConfig.DefaultAShape);
        var evaluator = new RetrievalEvaluator(EngineTestKit.Runner(weights, backend, new ModelShardOptions { Patterns = aShape }), tokenizer);
        var sample = RetrievalTaskGenerator.Create(RetrievalTaskKind.Niah, PromptTokens, 0.5, seed: 501);

        var outcome = evaluator.Run(sample, TestContext.Current.CancellationToken);

        Assert.False(outcome.Correct, $"A-shape found '{sample.Answer}' although the needle is outside its keys");
    }

    /// <summary>The model directory in the repository, found above the test binaries.</summary>
    internal static string ModelDirectory()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "tests", "fixtures", "models", "retrieval-llama-4m");
            if (File.Exists(Path.Combine(candidate, "model.safetensors")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"tests/fixtures/models/retrieval-llama-4m not found above {AppContext.BaseDirectory}");
    }
}
