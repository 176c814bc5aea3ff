using System.Globalization;

namespace MInference.Shared.Models;

/// <summary>
/// The Hugging Face tensor names of a Llama-layout decoder and the shapes a <see cref="ModelSpec"/>
/// implies for them. The loader checks files against these; the runtime looks tensors up by them.
/// Linear weights are stored [out_features, in_features] as in PyTorch.
/// </summary>
public static class ModelTensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string InputNorm(int layer) => Layer(layer, "input_layernorm.weight");

    public static string PostAttentionNorm(int layer) => Layer(layer, "post_attention_layernorm.weight");

    public static string QueryProjection(int layer) => Layer(layer, "self_attn.q_proj.weight");

    public static string KeyProjection(int layer) => Layer(layer, "self_attn.k_proj.weight");

    public static string ValueProjection(int layer) => Layer(layer, "self_attn.v_proj.weight");

    public static string OutputProjection(int layer) => Layer(layer, "self_attn.o_proj.weight");

    public static string QueryBias(int layer) => Layer(layer, "self_attn.q_proj.bias");

    public static string KeyBias(int layer) => Layer(layer, "self_attn.k_proj.bias");

    public static string ValueBias(int layer) => Layer(layer, "self_attn.v_proj.bias");

    public static string GateProjection(int layer) => Layer(layer, "mlp.gate_proj.weight");

    public static string UpProjection(int layer) => Layer(layer, "mlp.up_proj.weight");

    public static string DownProjection(int layer) => Layer(layer, "mlp.down_proj.weight");

    /// <summary>The tensor the LM head multiplies with: <see cref="LmHead"/>, or the embedding when tied.</summary>
    public static string OutputHead(ModelSpec spec) => spec.TieWordEmbeddings ? Embedding : LmHead;

    /// <summary>
    /// Every tensor a stage owning layers [<paramref name="firstLayer"/>, <paramref name="endLayer"/>) needs,
    /// with its exact shape: the embedding when the range starts at layer 0 (and the LM head when tied to
    /// it), the final norm and LM head when the range ends at the last layer, and each owned layer's tensors.
    /// </summary>
    public static IReadOnlyList<ExpectedTensor> Expected(ModelSpec spec, int firstLayer, int endLayer)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (firstLayer < 0 || endLayer > spec.LayerCount || firstLayer >= endLayer)
        {
            throw new ArgumentOutOfRangeException(
                nameof(firstLayer),
                $"layer range [{firstLayer}, {endLayer}) is empty or outside the model's {spec.LayerCount} layers");
        }

        long hidden = spec.HiddenSize;
        long queryWidth = (long)spec.QueryHeadCount * spec.HeadDim;
        long keyValueWidth = (long)spec.KeyValueHeadCount * spec.HeadDim;
        long intermediate = spec.IntermediateSize;
        var isFirstStage = firstLayer == 0;
        var isLastStage = endLayer == spec.LayerCount;

        var tensors = new List<ExpectedTensor>();
        if (isFirstStage || (isLastStage && spec.TieWordEmbeddings))
        {
            tensors.Add(new(Embedding, [spec.VocabSize, hidden]));
        }

        for (var layer = firstLayer; layer < endLayer; layer++)
        {
            tensors.Add(new(InputNorm(layer), [hidden]));
            tensors.Add(new(QueryProjection(layer), [queryWidth, hidden]));
            tensors.Add(new(KeyProjection(layer), [keyValueWidth, hidden]));
            tensors.Add(new(ValueProjection(layer), [keyValueWidth, hidden]));
            if (spec.AttentionBias)
            {
                tensors.Add(new(QueryBias(layer), [queryWidth]));
                tensors.Add(new(KeyBias(layer), [keyValueWidth]));
                tensors.Add(new(ValueBias(layer), [keyValueWidth]));
            }

            tensors.Add(new(OutputProjection(layer), [hidden, queryWidth]));
            tensors.Add(new(PostAttentionNorm(layer), [hidden]));
            tensors.Add(new(GateProjection(layer), [intermediate, hidden]));
            tensors.Add(new(UpProjection(layer), [intermediate, hidden]));
            tensors.Add(new(DownProjection(layer), [hidden, intermediate]));
        }

        if (isLastStage)
        {
            tensors.Add(new(FinalNorm, [hidden]));
            if (!spec.TieWordEmbeddings)
            {
                tensors.Add(new(LmHead, [spec.VocabSize, hidden]));
            }
        }

        return tensors;
    }

    /// <summary>All tensors of the whole model.</summary>
    public static IReadOnlyList<ExpectedTensor> Expected(ModelSpec spec) => Expected(spec, 0, spec.LayerCount);

    private static string Layer(int layer, string suffix)
        => string.Create(CultureInfo.InvariantCulture, $"model.layers.{layer}.{suffix}");
}

/// <summary>A tensor a spec requires, with its exact shape.</summary>
public sealed record ExpectedTensor(string Name, long[] Shape)
{
    public long ElementCount => ShapeElements.Count(Shape);
}
