using MInference.Shared.Contracts;
using Orleans.Runtime.Placement;

namespace MInference.Silo.Placement;

/// <summary>
/// Resolves the silo named in a stage key among the active, compatible silos. A stage holds its
/// device's weights and caches, so activating it elsewhere would be wrong, not slow: when the silo is
/// not there, placement fails with <see cref="SiloUnavailableException"/>.
/// </summary>
internal sealed class StagePlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var key = target.GrainIdentity.Key.ToString();
        if (!StageKeys.TryParse(key, out var siloName, out _))
        {
            throw new ArgumentException($"stage key '{key}' is not of the form '{{siloName}}/{{deviceIndex}}'", nameof(target));
        }

        var compatible = context.GetCompatibleSilos(target);
        var members = membership.CurrentSnapshot.Members;
        foreach (var silo in compatible)
        {
            if (members.TryGetValue(silo, out var member)
                && member.Status == SiloStatus.Active
                && string.Equals(member.Name, siloName, StringComparison.Ordinal))
            {
                return Task.FromResult(silo);
            }
        }

        throw new SiloUnavailableException(
            $"stage '{key}' is pinned to silo '{siloName}', which is not an active member (active: {string.Join(", ", members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.Name))}); it is never placed elsewhere");
    }
}
