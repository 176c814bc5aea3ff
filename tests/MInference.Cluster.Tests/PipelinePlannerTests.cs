using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Silo.Grains;

namespace MInference.Cluster.Tests;

public sealed class PipelinePlannerTests
{
    private static readonly RegisteredModel _model = new("tiny", "/models/tiny", "LlamaForCausalLM", 2, 320);

    /// <summary>
    /// When one device holds one layer but not two, the planner splits the model into one stage per
    /// layer, on devices of a single silo, and every stage's planned bytes fit its device.
    /// </summary>
    [Fact]
    public void Tight_memory_splits_layers_over_devices_of_one_silo()
    {
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var request = new PlanRequest("tiny", 4096, 256);
        var perDevice = Math.Max(PipelinePlanner.StageBytes(spec, request, 0, 1, 4), PipelinePlanner.StageBytes(spec, request, 1, 2, 4));
        Assert.True(perDevice < PipelinePlanner.StageBytes(spec, request, 0, 2, 4));
        DeviceDescriptor[] devices =
        [
            new("a", 0, "cpu", "cpu0", perDevice), new("b", 0, "cpu", "cpu0", perDevice),
            new("b", 1, "cpu", "cpu1", perDevice), new("a", 1, "cpu", "cpu1", perDevice),
        ];

        var plan = PipelinePlanner.Plan(_model, spec, request, devices);

        Assert.Equal(2, plan.Stages.Count);
        Assert.Equal((0, 1), (plan.Stages[0].FirstLayer, plan.Stages[0].EndLayer));
        Assert.Equal((1, 2), (plan.Stages[1].FirstLayer, plan.Stages[1].EndLayer));
        Assert.Single(plan.Stages.Select(s => s.StageKey.Split('/')[0]).Distinct());
        Assert.All(plan.Stages, s => Assert.True(s.PlannedBytes <= s.DeviceMemoryBytes));
    }

    /// <summary>A forced stage count needs that many devices; too few gives PlanDoesNotFitException naming both numbers.</summary>
    [Fact]
    public void Forced_depth_beyond_the_devices_does_not_fit()
    {
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        DeviceDescriptor[] devices = [new("a", 0, "cpu", "cpu0", 1L << 33)];

        var error = Assert.Throws<PlanDoesNotFitException>(() => PipelinePlanner.Plan(_model, spec, new PlanRequest("tiny", 64, 64, StageCount: 2), devices));

        Assert.Contains("2 stages", error.Message, StringComparison.Ordinal);
        Assert.Contains("1 devices", error.Message, StringComparison.Ordinal);
    }

    /// <summary>KV memory grows with the target length: longer targets plan more bytes for the same layers.</summary>
    [Fact]
    public void Planned_bytes_grow_with_target_length()
    {
        var spec = ModelShapes.Get(ModelShapes.Tiny);

        var shorter = PipelinePlanner.StageBytes(spec, new PlanRequest("tiny", 1024, 256), 0, 2, 4);
        var longer = PipelinePlanner.StageBytes(spec, new PlanRequest("tiny", 2048, 256), 0, 2, 4);

        var kvPerToken = 2L * spec.LayerCount * spec.KeyValueHeadCount * spec.HeadDim * 4;
        Assert.Equal(1024 * kvPerToken, longer - shorter);
    }

    /// <summary>
    /// With room for two 2-stage pipelines and a device too small for anything, the planner makes exactly two
    /// disjoint replicas, each covering all layers; the first is the plan a lone job gets.
    /// </summary>
    [Fact]
    public void Spare_devices_become_replicas()
    {
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var request = new PlanRequest("tiny", 4096, 256);
        var perDevice = Math.Max(PipelinePlanner.StageBytes(spec, request, 0, 1, 4), PipelinePlanner.StageBytes(spec, request, 1, 2, 4));
        DeviceDescriptor[] devices =
        [
            new("a", 0, "cpu", "cpu0", perDevice), new("a", 1, "cpu", "cpu1", perDevice),
            new("b", 0, "cpu", "cpu0", perDevice), new("b", 1, "cpu", "cpu1", perDevice),
            new("c", 0, "cpu", "cpu0", 1 << 20),
        ];

        var replicas = PipelinePlanner.PlanReplicas(_model, spec, request, devices);

        Assert.Equal(2, replicas.Count);
        Assert.Equal(PipelinePlanner.Plan(_model, spec, request, devices).Stages, replicas[0].Stages);
        Assert.All(replicas, r => Assert.Equal((0, 2), (r.Stages[0].FirstLayer, r.Stages[^1].EndLayer)));
        Assert.Equal(4, replicas.SelectMany(r => r.Stages).Select(s => s.StageKey).Distinct().Count());
    }
}
