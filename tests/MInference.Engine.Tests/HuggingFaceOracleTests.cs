using System.Text.Json;
using MInference.Shared.Generation;
using MInference.Shared.Models;

namespace MInference.Engine.Tests;

public sealed class HuggingFaceOracleTests : IDisposable
{
    /// <summary>The bound the issue sets for the CPU engine against transformers' f32 eager attention.</summary>
    internal const double OracleTolerance = 1e-4;

    /// <summary>Shapes the oracle must cover: a Llama-3 shape with llama3 rope scaling and a Qwen2 shape with biases.</summary>
    private static readonly string[] _requiredShapes = [ModelShapes.Tiny, ModelShapes.TinyQwen2];

    private readonly string _root = Directory.CreateTempSubdirectory("minference-oracle-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// For every fixture tests/fixtures/hf/*.logits.json (last-position logits that Hugging Face
    /// transformers computed in f32 with eager attention on the GPU machine), regenerates the model
    /// from the fixture's shape and seed, runs the CPU engine on its token ids, and requires relative
    /// L2 error at most 1e-4. Missing fixtures fail the test: they are the outside oracle.
    /// </summary>
    [Fact]
    public void Cpu_engine_matches_transformers_logits()
    {
        var fixtureDirectory = Path.Combine(FindRepositoryRoot(), "tests", "fixtures", "hf");
        var files = Directory.Exists(fixtureDirectory) ? Directory.GetFiles(fixtureDirectory, "*.logits.json") : [];
        Assert.True(
            files.Length > 0,
            $"fixture missing: no *.logits.json in {fixtureDirectory}; they are made with transformers on the GPU machine");

        var covered = new List<string>();
        foreach (var file in files.Order(StringComparer.Ordinal))
        {
            var fixture = JsonSerializer.Deserialize<OracleFixture>(File.ReadAllText(file))
                ?? throw new InvalidDataException($"{file} is empty");
            covered.Add(fixture.Shape);
            var logits = RunEngine(fixture, TestContext.Current.CancellationToken);
            EngineTestKit.AssertClose(fixture.LastLogits(), logits, $"{Path.GetFileName(file)} (shape {fixture.Shape}, seed {fixture.Seed})", OracleTolerance);
        }

        foreach (var shape in _requiredShapes)
        {
            Assert.True(covered.Contains(shape), $"fixture missing for shape '{shape}' in {fixtureDirectory} (have: {string.Join(", ", covered)})");
        }
    }

    private float[] RunEngine(OracleFixture fixture, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(_root, $"{fixture.Shape}-{fixture.Seed}");
        if (!Directory.Exists(directory))
        {
            ModelGenerator.Generate(ModelShapes.Get(fixture.Shape), directory, fixture.Seed, new ModelGeneratorOptions { ShapeName = fixture.Shape }, cancellationToken: cancellationToken);
        }

        using var weights = SafetensorsModelWeights.Open(directory);
        using var backend = EngineTestKit.Backend();
        var runner = EngineTestKit.Runner(weights, backend);
        return runner.RunSpan(runner.CreateSequence(fixture.TokenIds.Length), fixture.TokenIds, cancellationToken);
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MInference.Cluster.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no MInference.Cluster.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>The fixture format: {"shape", "seed", "token_ids", "logits"}; logits are the last position's, flat or as the last row of a matrix.</summary>
    private sealed class OracleFixture
    {
        [System.Text.Json.Serialization.JsonPropertyName("shape")]
        public required string Shape { get; init; }

        [System.Text.Json.Serialization.JsonPropertyName("seed")]
        public required ulong Seed { get; init; }

        [System.Text.Json.Serialization.JsonPropertyName("token_ids")]
        public required int[] TokenIds { get; init; }

        [System.Text.Json.Serialization.JsonPropertyName("logits")]
        public required JsonElement Logits { get; init; }

        public float[] LastLogits()
        {
            var row = Logits;
            while (row.ValueKind == JsonValueKind.Array && row.GetArrayLength() > 0 && row[0].ValueKind == JsonValueKind.Array)
            {
                row = row[row.GetArrayLength() - 1];
            }

            return row.EnumerateArray().Select(value => value.GetSingle()).ToArray();
        }
    }
}
