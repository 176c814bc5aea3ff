using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using MInference.Engine;
using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Kernels.Cuda;
using MInference.Kernels.Cuda.Interop;
using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using MInference.Shared.Tokenization;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference run</c>: the main job on an embedded default. Generates the <c>tiny</c> model (fixed
/// seed) into a cache folder if it is missing, pre-fills a deterministic long document on the CPU
/// backend in chunks, and prints throughput and the top next tokens. By default the document runs as a
/// job through a single-silo Orleans cluster hosted in this process (the product's path);
/// <c>--direct</c> runs the model-shard runtime in this process without Orleans.
/// </summary>
public static class RunCommand
{
    /// <summary>Seed of the embedded default model, so every run pre-fills the same weights.</summary>
    public const ulong DefaultModelSeed = 20261123;

    public const int DefaultTokens = 16384;

    public const int DefaultChunkTokens = 2048;

    public const int TopTokens = 5;

    /// <summary>Words of the pseudo-text; the document is a seeded random walk over them.</summary>
    private static readonly string[] _words =
    [
        "the", "cluster", "pre-fills", "a", "million", "tokens", "with", "sparse", "attention", "and", "each",
        "stage", "owns", "layers", "of", "model", "on", "its", "GPU", "while", "coordinator", "plans", "pipeline",
        "job", "document", "streams", "hidden", "states", "to", "next", "vertical", "slash", "block", "index",
        "heads", "keys", "values", "cache", "chunk", "batch", "result", "client", "watches", "progress",
    ];

    public static Command Create()
    {
        var model = new Option<DirectoryInfo?>("--model") { Description = "A Hugging Face model directory to run instead of the generated tiny model" };
        var tokens = new Option<int>("--tokens") { Description = "Length of the generated document in tokens", DefaultValueFactory = _ => DefaultTokens };
        var chunk = new Option<int>("--chunk") { Description = "Tokens per pre-fill span", DefaultValueFactory = _ => DefaultChunkTokens };
        var threads = new Option<int>("--threads") { Description = "Worker threads of the CPU backend", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cache = new Option<DirectoryInfo>("--cache") { Description = "Where generated models are kept", DefaultValueFactory = _ => new DirectoryInfo(DefaultCacheDirectory()) };
        var direct = new Option<bool>("--direct") { Description = "Run the model in this process without the embedded Orleans cluster" };
        var device = new Option<ComputeDevice>("--device")
        {
            Description = "With --direct: auto (CUDA when a GPU and the kernels' fatbin are present, else CPU), cpu or cuda",
            DefaultValueFactory = _ => ComputeDevice.Auto,
        };
        var config = new Option<FileInfo?>("--config") { Description = "Per-head sparse pattern config (our JSON, e.g. from `minference search`); default: dense" };
        var maxNewTokens = new Option<int>("--max-new-tokens")
        {
            Description = $"Tokens to generate greedily after the pre-fill, on the embedded cluster (0 to {JobSubmission.MaxNewTokensLimit})",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("run", "Pre-fill a long generated document on the embedded default (tiny model, CPU) and print the next-token prediction")
        {
            model, tokens, chunk, threads, cache, direct, device, config, maxNewTokens,
        };
        command.SetAction((parse, cancellationToken) => !parse.GetValue(direct)
            ? ClusterConnection.RunAsync(() => EmbeddedClusterRun.RunAsync(
                parse.GetValue(model),
                parse.GetValue(tokens),
                parse.GetValue(chunk),
                parse.GetValue(threads),
                parse.GetValue(cache)!,
                parse.GetValue(config),
                parse.GetValue(maxNewTokens),
                cancellationToken))
            : Task.FromResult(CommandErrors.Run(() => parse.GetValue(maxNewTokens) != 0
                ? throw new CommandUsageException($"--max-new-tokens {parse.GetValue(maxNewTokens)}: generation runs on the cluster path; drop --direct")
                : Run(
                parse.GetValue(model),
                parse.GetValue(tokens),
                parse.GetValue(chunk),
                parse.GetValue(threads),
                parse.GetValue(cache)!,
                parse.GetValue(device),
                parse.GetValue(config),
                cancellationToken))));
        return command;
    }

    /// <summary>~/.local/share/minference/models on Linux.</summary>
    internal static string DefaultCacheDirectory()
        => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "minference", "models");

    /// <summary>
    /// The directory of a generated model of <paramref name="shape"/> and <paramref name="seed"/> under
    /// <paramref name="cacheDirectory"/>, generating it first (into a temporary folder, then renamed, so
    /// an interrupted run never leaves a half-written model behind).
    /// </summary>
    internal static string EnsureGeneratedModel(string cacheDirectory, string shape, ulong seed, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(cacheDirectory, string.Create(CultureInfo.InvariantCulture, $"{shape}-seed{seed}"));
        if (File.Exists(Path.Combine(directory, ModelConfigReader.ConfigFileName)))
        {
            return directory;
        }

        Directory.CreateDirectory(cacheDirectory);
        var staging = directory + ".partial-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask($"generating {shape} (seed {seed})", maxValue: 1);
                ModelGenerator.Generate(
                    ModelShapes.Get(shape),
                    staging,
                    seed,
                    new ModelGeneratorOptions { ShapeName = shape },
                    new InlineProgress<ModelGenerationProgress>(p => task.Value = p.Fraction),
                    cancellationToken);
                task.Value = 1;
            });
        try
        {
            Directory.Move(staging, directory);
        }
        catch (IOException) when (File.Exists(Path.Combine(directory, ModelConfigReader.ConfigFileName)))
        {
            // Another process generated it first; theirs is identical (same shape and seed).
            Directory.Delete(staging, recursive: true);
        }

        return directory;
    }

    /// <summary>
    /// A deterministic pseudo-text document of exactly <paramref name="tokenCount"/> tokens: seeded
    /// sentences over a fixed word list, tokenized, cut to length.
    /// </summary>
    internal static int[] BuildDocument(ITextTokenizer tokenizer, int tokenCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokenCount, 1);
        var random = new Random(tokenCount);
        var text = new StringBuilder();
        var ids = tokenizer.Encode(string.Empty);
        var estimate = 0;
        while (true)
        {
            var sentence = new StringBuilder();
            var length = random.Next(6, 18);
            for (var w = 0; w < length; w++)
            {
                var word = _words[random.Next(_words.Length)];
                sentence.Append(w == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : word).Append(w + 1 < length ? " " : ". ");
            }

            text.Append(sentence);
            estimate += sentence.Length;
            if (estimate >= tokenCount)
            {
                ids = tokenizer.Encode(text.ToString());
                if (ids.Length >= tokenCount)
                {
                    return ids[..tokenCount];
                }

                estimate = ids.Length;
            }
        }
    }

    /// <summary>The tokenizer of a model directory; generated models carry the byte-level one.</summary>
    /// <summary>The model directory's own tokenizer: our byte-level one for generated models, else its tokenizer.json.</summary>
    internal static ITextTokenizer OpenTokenizer(string modelDirectory) => TokenizerLoader.Load(modelDirectory);

    private static int Run(
        DirectoryInfo? model, int tokenCount, int chunkTokens, int threads, DirectoryInfo cache, ComputeDevice device, FileInfo? configFile, CancellationToken cancellationToken)
    {
        if (tokenCount < 1 || chunkTokens < 1 || threads < 1)
        {
            AnsiConsole.MarkupLine($"[red]--tokens ({tokenCount}), --chunk ({chunkTokens}) and --threads ({threads}) must each be at least 1[/]");
            return 2;
        }

        var directory = model?.FullName ?? EnsureGeneratedModel(cache.FullName, ModelShapes.Tiny, DefaultModelSeed, cancellationToken);
        var tokenizer = OpenTokenizer(directory);
        var document = BuildDocument(tokenizer, tokenCount);

        var loadWatch = Stopwatch.StartNew();
        using var weights = SafetensorsModelWeights.Open(directory);
        using var loggers = LoggerFactory.Create(builder => builder.AddSimpleConsole(o => o.SingleLine = true));
        IComputeBackend opened;
        try
        {
            opened = ComputeBackendFactory.Create(
                device, loggers.CreateLogger("MInference.Backend"), cpuOptions: new CpuBackendOptions { MaxDegreeOfParallelism = threads }).Backend;
        }
        catch (CudaException e)
        {
            Console.Error.WriteLine($"error: --device {device.ToString().ToLowerInvariant()}: {e.Message}");
            return CommandErrors.BadInput;
        }

        using var backend = opened;
        var spec = weights.Spec;
        var patterns = configFile is null ? null : PatternConfigJson.Load(configFile.FullName);
        patterns?.EnsureFits(spec.LayerCount, spec.QueryHeadCount, directory);
        using var shard = ModelShard.Load(weights, new LayerRange(0, spec.LayerCount), backend, new ModelShardOptions { Patterns = patterns }, cancellationToken);
        var runner = new ModelRunner([shard]);
        var sequence = runner.CreateSequence(document.Length);
        loadWatch.Stop();

        AnsiConsole.MarkupLine(
            $"[bold]{Markup.Escape(spec.Architecture)}[/] {spec.LayerCount} layers, hidden {spec.HiddenSize}, heads {spec.QueryHeadCount}/{spec.KeyValueHeadCount} x {spec.HeadDim}, from [grey]{Markup.Escape(directory)}[/]");
        AnsiConsole.MarkupLine($"document: {document.Length} tokens, pre-filled in spans of {chunkTokens} on {Markup.Escape(backend.Name)} (weights loaded in {loadWatch.Elapsed.TotalSeconds:F2} s)");
        if (patterns is not null)
        {
            AnsiConsole.MarkupLine($"patterns from [grey]{Markup.Escape(configFile!.FullName)}[/]: "
                + Markup.Escape(string.Join(", ", patterns.Summarize().Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Heads} x {p.Pattern}")))));
        }

        float[] logits = [];
        var watch = Stopwatch.StartNew();
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("pre-fill", maxValue: document.Length);
                logits = runner.Prefill(sequence, document, chunkTokens, new InlineProgress<long>(done => task.Value = done), cancellationToken);
            });
        watch.Stop();
        var density = sequence.SelectMany(stage => stage.AttentionDensity).ToArray();
        foreach (var cacheOfStage in sequence)
        {
            cacheOfStage.Dispose();
        }

        var seconds = watch.Elapsed.TotalSeconds;
        AnsiConsole.MarkupLine($"pre-fill: [bold]{document.Length / seconds:F0} tokens/s[/], {seconds:F2} s for {document.Length} tokens");
        var table = new Table().AddColumns("rank", "token id", "text", "probability");
        foreach (var (id, probability, rank) in TopNext(logits, TopTokens).Select((t, i) => (t.Id, t.Probability, i + 1)))
        {
            table.AddRow($"{rank}", $"{id}", Markup.Escape(TokenText(tokenizer, id)), $"{probability:P2}");
        }

        AnsiConsole.MarkupLine("top next tokens:");
        AnsiConsole.Write(table);
        if (patterns is not null)
        {
            WriteDensity(patterns, density);
        }

        return 0;
    }

    /// <summary>Per layer: the configured patterns and the share of causal (query, key) pairs attention computed over the whole pre-fill.</summary>
    private static void WriteDensity(PatternConfig patterns, IReadOnlyList<LayerDensity> density)
    {
        var table = new Table().AddColumns("layer", "patterns", "sparse heads", "density");
        foreach (var layer in density)
        {
            var counts = patterns.Layer(layer.Layer).GroupBy(p => p).Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Count()} x {g.Key}"));
            table.AddRow(
                layer.Layer.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(string.Join(", ", counts)),
                string.Create(CultureInfo.InvariantCulture, $"{layer.SparseHeads}/{layer.Heads}"),
                (100 * layer.Density).ToString("F1", CultureInfo.InvariantCulture) + "%" + (layer.Measured ? string.Empty : " (budget bound)"));
        }

        long covered = density.Sum(d => d.CoveredPairs), causal = density.Sum(d => d.CausalPairs);
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"attention density: [bold]{100.0 * covered / Math.Max(1, causal):F1}%[/] of causal pairs over all layers"));
        AnsiConsole.Write(table);
    }

    private static IEnumerable<(int Id, double Probability)> TopNext(float[] logits, int count)
    {
        var max = logits.Max();
        var sum = logits.Sum(l => Math.Exp(l - max));
        return logits
            .Select((logit, id) => (id, Math.Exp(logit - max) / sum))
            .OrderByDescending(t => t.Item2)
            .ThenBy(t => t.id)
            .Take(count);
    }

    /// <summary>A token's text, quoted; a lone byte that is not valid UTF-8 on its own is shown as its hex value.</summary>
    internal static string TokenText(ITextTokenizer tokenizer, int id)
    {
        if (id >= tokenizer.VocabularySize)
        {
            // Generated models round their embedding up past the tokenizer's ids.
            return "(no text: padding id of the embedding)";
        }

        var text = tokenizer.Decode([id]);
        if (text.Length == 0)
        {
            return "(special)";
        }

        if (text.Contains('\uFFFD', StringComparison.Ordinal) && tokenizer is ByteLevelTokenizer && id < ByteLevelTokenizer.ByteTokenCount)
        {
            return string.Create(CultureInfo.InvariantCulture, $"byte 0x{id:X2}");
        }

        return "'" + string.Concat(text.Select(c => char.IsControl(c) || char.IsWhiteSpace(c) ? string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}") : c.ToString())) + "'";
    }

    /// <summary>Reports on the calling thread (System.Progress would post to the thread pool and lag).</summary>
    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
