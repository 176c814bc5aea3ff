using MInference.Engine;
using MInference.Shared.Contracts;
using MInference.Shared.Models;

namespace MInference.Silo.Grains;

/// <summary>
/// Splits a model's layers into consecutive stages by memory: each stage needs its layers' weights,
/// their KV caches for the target length, a chunk's activation workspace, and the embedding (first
/// stage) or final norm + LM head (last stage). Prefers the devices of one silo: hidden states then stay
/// in process, while a hop between silos costs a copy over the TCP data plane.
/// </summary>
public static class PipelinePlanner
{
    public static PipelinePlan Plan(RegisteredModel model, ModelSpec spec, PlanRequest request, IReadOnlyList<DeviceDescriptor> devices)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(devices);
        if (request.TargetTokens < 1 || request.ChunkTokens < 1)
        {
            throw new ArgumentException($"a plan needs at least 1 target token and 1 chunk token (got {request.TargetTokens} and {request.ChunkTokens})", nameof(request));
        }

        if (devices.Count == 0)
        {
            throw new PlanDoesNotFitException($"no devices are registered, so model '{model.ModelId}' cannot be planned", 0, 0);
        }

        if (request.StageCount is { } count && (count < 1 || count > spec.LayerCount))
        {
            throw new ArgumentException($"StageCount {count} must be between 1 and the model's {spec.LayerCount} layers", nameof(request));
        }

        // Candidate device groups: each silo alone (largest first), then all devices together.
        var groups = devices.GroupBy(d => d.SiloName, StringComparer.Ordinal)
            .Select(g => g.OrderBy(d => d.DeviceIndex).ToList())
            .OrderByDescending(g => g.Sum(d => d.MemoryBytes))
            .Append([.. devices.OrderBy(d => d.SiloName, StringComparer.Ordinal).ThenBy(d => d.DeviceIndex)])
            .ToList();
        PlanDoesNotFitException? last = null;
        foreach (var group in groups)
        {
            try
            {
                var stages = request.StageCount is { } n ? Even(spec, request, group, n) : Greedy(spec, request, group);
                return new PipelinePlan(model.ModelId, model.Directory, request.TargetTokens, stages);
            }
            catch (PlanDoesNotFitException e)
            {
                last = e;
            }
        }

        throw last!;
    }

    /// <summary>
    /// As many disjoint pipelines as the devices hold, each planned like <see cref="Plan"/> over the devices the
    /// earlier ones left; the first is the plan a lone job gets. Throws <see cref="PlanDoesNotFitException"/>
    /// only when not even one fits.
    /// </summary>
    public static IReadOnlyList<PipelinePlan> PlanReplicas(RegisteredModel model, ModelSpec spec, PlanRequest request, IReadOnlyList<DeviceDescriptor> devices)
    {
        ArgumentNullException.ThrowIfNull(devices);
        var remaining = devices.ToList();
        var plans = new List<PipelinePlan>();
        while (true)
        {
            PipelinePlan plan;
            try
            {
                plan = Plan(model, spec, request, remaining);
            }
            catch (PlanDoesNotFitException) when (plans.Count > 0)
            {
                return plans;
            }

            plans.Add(plan);
            var used = plan.Stages.Select(s => s.StageKey).ToHashSet(StringComparer.Ordinal);
            remaining.RemoveAll(d => used.Contains(d.StageKey));
            if (remaining.Count == 0)
            {
                return plans;
            }
        }
    }

    /// <summary>Bytes of one stage over layers [first, end).</summary>
    public static long StageBytes(ModelSpec spec, PlanRequest request, int first, int end, int elementBytes)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(request);
        long h = spec.HiddenSize;
        long q = (long)spec.QueryHeadCount * spec.HeadDim;
        long kv = (long)spec.KeyValueHeadCount * spec.HeadDim;
        long inter = spec.IntermediateSize;
        var layerWeights = (h * q) + (2 * h * kv) + (q * h) + (3 * h * inter) + (2 * h) + (spec.AttentionBias ? q + (2 * kv) : 0);
        var layerKv = 2 * request.TargetTokens * kv;
        long chunk = Math.Min(request.ChunkTokens, request.TargetTokens);
        var mlpRows = Math.Min(chunk, ModelShardOptions.DefaultMlpChunkTokens);
        var workspace = (chunk * ((3 * h) + (2 * q))) + (2 * mlpRows * inter);
        var elements = ((end - first) * (layerWeights + layerKv)) + workspace;
        if (first == 0)
        {
            elements += spec.VocabSize * h;
        }

        if (end == spec.LayerCount)
        {
            elements += h + (spec.TieWordEmbeddings && first == 0 ? 0 : spec.VocabSize * h);
        }

        return elements * elementBytes;
    }

    private static int ElementBytes(DeviceDescriptor device)
        => string.Equals(device.Kind, DeviceDescriptor.CpuKind, StringComparison.Ordinal) ? TensorDType.Float32.SizeInBytes() : TensorDType.BFloat16.SizeInBytes();

    private static List<StageAssignment> Even(ModelSpec spec, PlanRequest request, List<DeviceDescriptor> group, int count)
    {
        if (group.Count < count)
        {
            throw new PlanDoesNotFitException($"{count} stages were requested but only {group.Count} devices are available together", count, group.Count);
        }

        var stages = new List<StageAssignment>();
        var first = 0;
        for (var s = 0; s < count; s++)
        {
            var end = first + ((spec.LayerCount - first) / (count - s));
            var device = group[s];
            var bytes = StageBytes(spec, request, first, end, ElementBytes(device));
            if (bytes > device.MemoryBytes)
            {
                throw new PlanDoesNotFitException(
                    $"stage {s} (layers {first}-{end}) needs {bytes} bytes for {request.TargetTokens} tokens but device '{device.StageKey}' has {device.MemoryBytes}",
                    bytes,
                    device.MemoryBytes);
            }

            stages.Add(new StageAssignment(device.StageKey, first, end, bytes, device.MemoryBytes));
            first = end;
        }

        return stages;
    }

    private static List<StageAssignment> Greedy(ModelSpec spec, PlanRequest request, List<DeviceDescriptor> group)
    {
        var stages = new List<StageAssignment>();
        var first = 0;
        foreach (var device in group)
        {
            var elementBytes = ElementBytes(device);
            var end = first;
            while (end < spec.LayerCount && StageBytes(spec, request, first, end + 1, elementBytes) <= device.MemoryBytes)
            {
                end++;
            }

            if (end == first)
            {
                continue;
            }

            stages.Add(new StageAssignment(device.StageKey, first, end, StageBytes(spec, request, first, end, elementBytes), device.MemoryBytes));
            first = end;
            if (first == spec.LayerCount)
            {
                return stages;
            }
        }

        var total = StageBytes(spec, request, 0, spec.LayerCount, ElementBytes(group[0]));
        var available = group.Sum(d => d.MemoryBytes);
        throw new PlanDoesNotFitException(
            $"model with {spec.LayerCount} layers needs about {total} bytes for {request.TargetTokens} tokens; devices {string.Join(", ", group.Select(d => d.StageKey))} offer {available} and fit only layers 0-{first}",
            total,
            available);
    }
}
