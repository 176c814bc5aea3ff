using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace MInference.Silo.Hosting;

/// <summary>
/// Exports the product's and Orleans' metrics and traces over OTLP when <c>MInference:OtlpEndpoint</c>
/// is set. Without it nothing is collected beyond what <c>dotnet-counters</c> reads on demand.
/// </summary>
public static class SiloTelemetry
{
    /// <summary>The product's Meter and ActivitySource name.</summary>
    public const string ProductName = "MInference";

    /// <summary>Orleans' runtime meter.</summary>
    public const string OrleansMeterName = "Microsoft.Orleans";

    /// <summary>Orleans' activity sources: runtime spans and grain calls (with <c>AddActivityPropagation</c>).</summary>
    public static readonly string[] OrleansActivitySources = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    public static ISiloBuilder AddMInferenceTelemetry(this ISiloBuilder builder, MInferenceSiloOptions settings)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.OtlpEndpoint is not { Length: > 0 } endpoint)
        {
            return builder;
        }

        var uri = new Uri(endpoint);
        // Trace context flows across grain calls, so one job's spans on every silo join one trace.
        builder.AddActivityPropagation();
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("minference-silo", serviceInstanceId: settings.SiloName))
            .WithMetrics(m => m
                .AddMeter(ProductName, OrleansMeterName)
                .AddOtlpExporter(o => Target(o, uri)))
            .WithTracing(t => t
                .AddSource([ProductName, .. OrleansActivitySources])
                .AddOtlpExporter(o => Target(o, uri)));
        return builder;
    }

    private static void Target(OtlpExporterOptions options, Uri endpoint)
    {
        options.Endpoint = endpoint;
        // 4317 is the collectors' gRPC port; anything else is taken as OTLP over HTTP.
        options.Protocol = endpoint.Port == OtlpGrpcPort ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
    }

    private const int OtlpGrpcPort = 4317;
}
