using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MInference.Shared.Generation;
using MInference.Shared.Models;

namespace MInference.Cli.Commands;

/// <summary><c>minference model generate|info</c>: write seeded random HF model directories and inspect model directories.</summary>
public static class ModelCommands
{
    /// <summary>Progress lines are printed each time generation passes another step of this size.</summary>
    private const double ProgressStep = 0.05;

    public static Command Create()
    {
        var model = new Command("model", "Generate and inspect Hugging Face model directories");
        model.Subcommands.Add(CreateGenerate());
        model.Subcommands.Add(CreateInfo());
        return model;
    }

    private static Command CreateGenerate()
    {
        var shape = new Option<string>("--shape") { Description = $"Model shape: {string.Join(", ", ModelShapes.Names)}", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory to write the model into (must be empty unless --force)", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights; the same seed gives the same bytes on every machine", DefaultValueFactory = _ => 0 };
        var force = new Option<bool>("--force") { Description = "Write into a non-empty directory, replacing its weight files" };
        var threads = new Option<int?>("--threads") { Description = "Generation threads (default: all processors); does not change the output" };
        var command = new Command("generate", "Write a Hugging Face model directory with seeded random bf16 weights") { shape, output, seed, force, threads };
        command.SetAction((parseResult, cancellationToken) => Task.FromResult(CommandErrors.Run(() =>
        {
            var shapeName = parseResult.GetValue(shape)!;
            if (!ModelShapes.TryGet(shapeName, out var spec))
            {
                throw new CommandUsageException($"unknown shape '{shapeName}'; valid shapes: {string.Join(", ", ModelShapes.Names)}");
            }

            var directory = parseResult.GetValue(output)!.FullName;
            PrepareOutputDirectory(directory, parseResult.GetValue(force));
            var options = new ModelGeneratorOptions
            {
                ShapeName = shapeName,
                MaxDegreeOfParallelism = parseResult.GetValue(threads) is { } t && t > 0 ? t : Environment.ProcessorCount,
            };

            var totalBytes = ModelTensorNames.Expected(spec).Sum(e => e.ElementCount * 2);
            Console.Error.WriteLine($"generating '{shapeName}' (seed {parseResult.GetValue(seed)}, {FormatBytes(totalBytes)} of bf16 weights) into {directory}");
            var stopwatch = Stopwatch.StartNew();
            var result = ModelGenerator.Generate(spec, directory, parseResult.GetValue(seed), options, new StderrProgress(stopwatch), cancellationToken);
            stopwatch.Stop();

            var parameters = result.TensorBytes / 2;
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"wrote {result.Directory}: shape {shapeName}, seed {result.Seed}, {parameters:N0} parameters, {result.TensorCount} tensors, {FormatBytes(result.TensorBytes)} in {result.WeightFiles.Count} file(s), {stopwatch.Elapsed.TotalSeconds:F1} s ({result.TensorBytes / 1e6 / Math.Max(stopwatch.Elapsed.TotalSeconds, 1e-3):F0} MB/s)"));
        })));
        return command;
    }

    private static Command CreateInfo()
    {
        var directory = new Argument<DirectoryInfo>("DIR") { Description = "Hugging Face model directory (config.json + safetensors)" };
        var command = new Command("info", "Print a model's spec and its tensor count and bytes (validating every tensor)") { directory };
        command.SetAction(parseResult => CommandErrors.Run(() =>
        {
            var path = parseResult.GetValue(directory)!.FullName;
            using var weights = SafetensorsModelWeights.Open(path);
            var spec = weights.Spec;
            var tensors = weights.TensorNames.Select(weights.Describe).ToList();
            var bytes = tensors.Sum(t => t.ElementCount * t.DType.SizeInBytes());
            var dtypes = string.Join(", ", tensors.GroupBy(t => t.DType).Select(g => $"{g.Key} x{g.Count()}"));
            var rope = spec.RopeScaling is { } s
                ? string.Create(CultureInfo.InvariantCulture, $"{s.Type} x{s.Factor} (low {s.LowFrequencyFactor}, high {s.HighFrequencyFactor}, original {s.OriginalMaxPositionEmbeddings})")
                : "none";
            var lines = new[]
            {
                $"model          {path}",
                $"architecture   {spec.Architecture}",
                $"layers         {spec.LayerCount}",
                $"hidden         {spec.HiddenSize}",
                $"intermediate   {spec.IntermediateSize}",
                $"heads          {spec.QueryHeadCount} query / {spec.KeyValueHeadCount} key-value, head_dim {spec.HeadDim}",
                $"vocab          {spec.VocabSize}",
                $"rope           theta {spec.RopeTheta}, scaling {rope}",
                $"max positions  {spec.MaxPositionEmbeddings}",
                $"rms norm eps   {spec.RmsNormEpsilon}",
                $"attention bias {spec.AttentionBias}",
                $"tied embedding {spec.TieWordEmbeddings}",
                $"bos / eos      {spec.BeginOfSequenceTokenId?.ToString(CultureInfo.InvariantCulture) ?? "-"} / {spec.EndOfSequenceTokenId?.ToString(CultureInfo.InvariantCulture) ?? "-"}",
                $"tensors        {tensors.Count} ({dtypes}), {tensors.Sum(t => t.ElementCount):N0} parameters, {FormatBytes(bytes)} in {weights.OpenedFiles.Count} file(s)",
            };
            foreach (var line in lines)
            {
                Console.WriteLine(FormattableString.Invariant($"{line}"));
            }
        }));
        return command;
    }

    /// <summary>Refuses a non-empty directory unless forced; the generator itself replaces old weight files.</summary>
    private static void PrepareOutputDirectory(string directory, bool force)
    {
        if (!force && Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
        {
            throw new CommandUsageException($"output directory {directory} is not empty; pass --force to overwrite the model in it");
        }
    }


    private static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F2} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F1} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
    };

    /// <summary>A usage error the user can fix (bad shape name, non-empty output): exit code 2.</summary>

    /// <summary>Prints a line to stderr each time generation passes another <see cref="ProgressStep"/>; called from many threads.</summary>
    private sealed class StderrProgress(Stopwatch stopwatch) : IProgress<ModelGenerationProgress>
    {
        private readonly Lock _lock = new();
        private int _printedSteps;

        public void Report(ModelGenerationProgress value)
        {
            var steps = (int)(value.Fraction / ProgressStep);
            if (steps <= Volatile.Read(ref _printedSteps))
            {
                return;
            }

            lock (_lock)
            {
                if (steps <= _printedSteps)
                {
                    return;
                }

                _printedSteps = steps;
                Console.Error.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"  {value.Fraction * 100,3:F0}%  {FormatBytes(value.BytesWritten)} of {FormatBytes(value.TotalBytes)}  {stopwatch.Elapsed.TotalSeconds:F1} s"));
            }
        }
    }
}
