using MInference.Shared.Models;
using MInference.Shared.Tokenization;

namespace MInference.Shared.Generation;

/// <summary>
/// The named model shapes the generator writes. Every shape uses the byte-level tokenizer: its ids
/// (0..258) are a subset of every shape's vocabulary, so any generated model can run any prompt.
/// </summary>
public static class ModelShapes
{
    public const string Tiny = "tiny";
    public const string TinyQwen2 = "tiny-qwen2";
    public const string Small = "small";
    public const string Llama3_8B = "llama3-8b";
    public const string Qwen25_7B = "qwen2.5-7b";

    /// <summary>Vocabulary of the tiny/small shapes: just above the byte tokenizer's 259 ids, rounded up to a multiple of 64.</summary>
    public const int SmallVocabularySize = 320;

    private static readonly RopeScaling _llama31Scaling = new()
    {
        Type = RopeScalingType.Llama3,
        Factor = 8f,
        LowFrequencyFactor = 1f,
        HighFrequencyFactor = 4f,
        OriginalMaxPositionEmbeddings = 8192,
    };

    private static readonly Dictionary<string, ModelSpec> _shapes = new(StringComparer.Ordinal)
    {
        // CI: head_dim 64, GQA 8/2, Llama 3.1's rope scaling (with d = 64 and theta 5e5 many frequencies
        // have wavelengths past 8192, so the scaling really changes them). 2 layers of hidden 512 keep a
        // 16K-token CPU pre-fill short.
        [Tiny] = Llama(vocab: SmallVocabularySize, hidden: 512, intermediate: 1536, layers: 2, heads: 8, kvHeads: 2, headDim: 64),

        // CI: Qwen2 layout with q/k/v biases, tied embeddings, theta 1e6.
        [TinyQwen2] = Qwen2(vocab: SmallVocabularySize, hidden: 512, intermediate: 1536, layers: 2, heads: 8, kvHeads: 2, headDim: 64, maxPositions: 32768, tieEmbeddings: true),

        // CPU benchmarks: about 38M parameters.
        [Small] = Llama(vocab: SmallVocabularySize, hidden: 768, intermediate: 2048, layers: 6, heads: 12, kvHeads: 4, headDim: 64),

        // Llama-3.1-8B's published shape (16 GB in bf16).
        [Llama3_8B] = Llama(vocab: 128256, hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8, headDim: 128),

        // Qwen2.5-7B's published shape (15 GB in bf16).
        [Qwen25_7B] = Qwen2(vocab: 152064, hidden: 3584, intermediate: 18944, layers: 28, heads: 28, kvHeads: 4, headDim: 128, maxPositions: 131072, tieEmbeddings: false),
    };

    /// <summary>The shape names, in the order above.</summary>
    public static IReadOnlyList<string> Names { get; } = [Tiny, TinyQwen2, Small, Llama3_8B, Qwen25_7B];

    public static bool TryGet(string name, out ModelSpec spec) => _shapes.TryGetValue(name, out spec!);

    /// <summary>The spec of a named shape; an unknown name throws listing the valid ones.</summary>
    public static ModelSpec Get(string name)
        => TryGet(name, out var spec)
            ? spec
            : throw new ArgumentException($"unknown model shape '{name}' (valid: {string.Join(", ", Names)})", nameof(name));

    /// <summary>A Llama 3.1-style spec: theta 5e5, llama3 rope scaling ×8 from 8192, eps 1e-5, 128K context.</summary>
    private static ModelSpec Llama(int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim)
        => Spec(
            ModelArchitectures.Llama, vocab, hidden, intermediate, layers, heads, kvHeads, headDim,
            epsilon: 1e-5f, theta: 500000f, scaling: _llama31Scaling, maxPositions: 131072, attentionBias: false, tieEmbeddings: false);

    /// <summary>A Qwen2-style spec: q/k/v biases, theta 1e6, eps 1e-6, no rope scaling.</summary>
    private static ModelSpec Qwen2(
        int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim, int maxPositions, bool tieEmbeddings)
        => Spec(
            ModelArchitectures.Qwen2, vocab, hidden, intermediate, layers, heads, kvHeads, headDim,
            epsilon: 1e-6f, theta: 1e6f, scaling: null, maxPositions, attentionBias: true, tieEmbeddings);

    /// <summary>One spec of any family, with the byte-level tokenizer's BOS/EOS ids.</summary>
    private static ModelSpec Spec(
        string architecture, int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim,
        float epsilon, float theta, RopeScaling? scaling, int maxPositions, bool attentionBias, bool tieEmbeddings) => new()
        {
            Architecture = architecture,
            VocabSize = vocab,
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            LayerCount = layers,
            QueryHeadCount = heads,
            KeyValueHeadCount = kvHeads,
            HeadDim = headDim,
            RmsNormEpsilon = epsilon,
            RopeTheta = theta,
            RopeScaling = scaling,
            MaxPositionEmbeddings = maxPositions,
            AttentionBias = attentionBias,
            TieWordEmbeddings = tieEmbeddings,
            BeginOfSequenceTokenId = ByteLevelTokenizer.BeginOfTextId,
            EndOfSequenceTokenId = ByteLevelTokenizer.EndOfTextId,
        };
}
