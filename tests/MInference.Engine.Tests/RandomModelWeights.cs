using System.Globalization;
using System.Runtime.InteropServices;
using MInference.Shared.Models;

namespace MInference.Engine.Tests;

/// <summary>
/// An in-memory <see cref="IModelWeights"/> with seeded random f32 weights for any spec, scaled so
/// activations stay O(1) over many layers (linear weights of variance ~1/k, norms near 1). Records
/// which tensors were read, so tests can check that a stage touches only its own layers.
/// </summary>
internal sealed class RandomModelWeights : IModelWeights
{
    private readonly Dictionary<string, (TensorInfo Info, byte[] Bytes)> _tensors = [];

    public RandomModelWeights(ModelSpec spec, int seed, TensorDType dtype = TensorDType.Float32)
    {
        Spec = spec;
        var random = new Random(seed);
        var q = spec.QueryHeadCount * spec.HeadDim;
        var kv = spec.KeyValueHeadCount * spec.HeadDim;
        var hidden = spec.HiddenSize;
        Add("model.embed_tokens.weight", [spec.VocabSize, hidden], random, 1f, 0f, dtype);
        for (var layer = 0; layer < spec.LayerCount; layer++)
        {
            string Name(string suffix) => string.Create(CultureInfo.InvariantCulture, $"model.layers.{layer}.{suffix}");
            Add(Name("input_layernorm.weight"), [hidden], random, 0.2f, 1f, dtype);
            Add(Name("self_attn.q_proj.weight"), [q, hidden], random, Scale(hidden), 0f, dtype);
            Add(Name("self_attn.k_proj.weight"), [kv, hidden], random, Scale(hidden), 0f, dtype);
            Add(Name("self_attn.v_proj.weight"), [kv, hidden], random, Scale(hidden), 0f, dtype);
            if (spec.AttentionBias)
            {
                Add(Name("self_attn.q_proj.bias"), [q], random, 0.2f, 0f, dtype);
                Add(Name("self_attn.k_proj.bias"), [kv], random, 0.2f, 0f, dtype);
                Add(Name("self_attn.v_proj.bias"), [kv], random, 0.2f, 0f, dtype);
            }

            Add(Name("self_attn.o_proj.weight"), [hidden, q], random, Scale(q), 0f, dtype);
            Add(Name("post_attention_layernorm.weight"), [hidden], random, 0.2f, 1f, dtype);
            Add(Name("mlp.gate_proj.weight"), [spec.IntermediateSize, hidden], random, Scale(hidden), 0f, dtype);
            Add(Name("mlp.up_proj.weight"), [spec.IntermediateSize, hidden], random, Scale(hidden), 0f, dtype);
            Add(Name("mlp.down_proj.weight"), [hidden, spec.IntermediateSize], random, Scale(spec.IntermediateSize), 0f, dtype);
        }

        Add("model.norm.weight", [hidden], random, 0.2f, 1f, dtype);
        if (!spec.TieWordEmbeddings)
        {
            Add("lm_head.weight", [spec.VocabSize, hidden], random, Scale(hidden), 0f, dtype);
        }
    }

    public ModelSpec Spec { get; }

    public HashSet<string> Read { get; } = [];

    /// <summary>A Llama-3-like tiny shape: GQA, llama3 rope scaling; biases and tied embeddings on request.</summary>
    public static ModelSpec TinySpec(int layers = 3, bool attentionBias = false, bool tied = false, int headDim = 16) => new()
    {
        Architecture = attentionBias ? "Qwen2ForCausalLM" : "LlamaForCausalLM",
        VocabSize = 97,
        HiddenSize = 64,
        IntermediateSize = 112,
        LayerCount = layers,
        QueryHeadCount = 4,
        KeyValueHeadCount = 2,
        HeadDim = headDim,
        RmsNormEpsilon = 1e-5f,
        RopeTheta = 10000f,
        RopeScaling = new RopeScaling { Type = RopeScalingType.Llama3, Factor = 8f, OriginalMaxPositionEmbeddings = 64 },
        MaxPositionEmbeddings = 4096,
        AttentionBias = attentionBias,
        TieWordEmbeddings = tied,
    };

    public bool Contains(string tensorName) => _tensors.ContainsKey(tensorName);

    public TensorInfo Describe(string tensorName)
        => _tensors.TryGetValue(tensorName, out var tensor)
            ? tensor.Info
            : throw new ModelFormatException("<memory>", tensorName, "tensor is missing");

    public ReadOnlySpan<byte> GetBytes(string tensorName)
    {
        Read.Add(tensorName);
        return Describe(tensorName) is not null ? _tensors[tensorName].Bytes : default;
    }

    public void ReadAsFloat32(string tensorName, Span<float> destination)
    {
        Read.Add(tensorName);
        var (info, bytes) = _tensors[tensorName];
        if (info.DType != TensorDType.Float32)
        {
            throw new NotSupportedException("the test weights convert only f32 here");
        }

        MemoryMarshal.Cast<byte, float>(bytes).CopyTo(destination);
    }

    public void Dispose()
    {
    }

    private static float Scale(int fanIn) => MathF.Sqrt(3f / fanIn);

    private void Add(string name, long[] shape, Random random, float scale, float offset, TensorDType dtype)
    {
        var info = new TensorInfo(name, dtype, shape);
        var values = new float[info.ElementCount];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = offset + ((float)((random.NextDouble() * 2) - 1) * scale);
        }

        byte[] bytes;
        if (dtype == TensorDType.Float32)
        {
            bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        }
        else if (dtype == TensorDType.BFloat16)
        {
            bytes = new byte[values.Length * 2];
            for (var i = 0; i < values.Length; i++)
            {
                var bits = (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16);
                bytes[2 * i] = (byte)bits;
                bytes[(2 * i) + 1] = (byte)(bits >> 8);
            }
        }
        else
        {
            throw new NotSupportedException($"test weights in {dtype} are not needed");
        }

        _tensors[name] = (info, bytes);
    }
}
