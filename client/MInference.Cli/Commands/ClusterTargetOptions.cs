using System.CommandLine;
using MInference.Client;

namespace MInference.Cli.Commands;

/// <summary>
/// The options that pick the cluster a command talks to: <c>--gateway host:port</c> (one silo's gateway), or
/// <c>--redis CONNECTION</c> (a Redis-clustered deployment: the gateway list comes from Redis), with
/// <c>--cluster-id</c>/<c>--service-id</c> matching the silos'.
/// </summary>
internal sealed class ClusterTargetOptions
{
    /// <summary>The silos' defaults (MInference:ClusterId, MInference:ServiceId), also Orleans' own.</summary>
    public const string DefaultId = "default";

    public Option<string> Gateway { get; } = ClusterConnection.CreateGatewayOption();

    public Option<string?> Redis { get; } = new("--redis")
    {
        Description = "Find the gateways of a Redis-clustered deployment in Redis (host:port[,password=...]) instead of --gateway",
    };

    public Option<string> ClusterId { get; } = new("--cluster-id")
    {
        Description = "The silos' MInference:ClusterId",
        DefaultValueFactory = _ => DefaultId,
    };

    public Option<string> ServiceId { get; } = new("--service-id")
    {
        Description = "The silos' MInference:ServiceId",
        DefaultValueFactory = _ => DefaultId,
    };

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(Gateway);
        command.Options.Add(Redis);
        command.Options.Add(ClusterId);
        command.Options.Add(ServiceId);
    }

    public ClusterTarget Read(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return new ClusterTarget(
            parse.GetValue(Gateway)!,
            parse.GetValue(Redis),
            parse.GetValue(ClusterId)!,
            parse.GetValue(ServiceId)!,
            parse.GetResult(Gateway) is { Implicit: false });
    }
}

/// <summary>Where a command connects: a gateway, or Redis; <see cref="ConnectAsync"/> turns bad values into usage errors.</summary>
internal sealed record ClusterTarget(string Gateway, string? Redis, string ClusterId, string ServiceId, bool GatewayGiven)
{
    public Task<MInferenceClient> ConnectAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(ClusterId) || string.IsNullOrWhiteSpace(ServiceId))
        {
            throw new CommandUsageException($"--cluster-id '{ClusterId}' and --service-id '{ServiceId}' must not be empty");
        }

        var builder = new MInferenceClientBuilder();
        if (Redis is null)
        {
            var (host, port) = ClusterConnection.Parse(Gateway);
            builder = host is "localhost" or "127.0.0.1" ? builder.UseLocalhostGateway(port) : builder.UseGateway(host, port);
            return builder.UseClusterId(ClusterId, ServiceId).ConnectAsync(cancellationToken);
        }

        if (GatewayGiven)
        {
            throw new CommandUsageException($"--gateway '{Gateway}' and --redis pick the cluster two ways; give one of them");
        }

        try
        {
            builder.UseRedisClustering(Redis, ClusterId, ServiceId);
        }
        catch (ArgumentException e)
        {
            throw new CommandUsageException($"--redis: {e.Message}");
        }

        return builder.ConnectAsync(cancellationToken);
    }
}
