using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using MInference.Silo.Hosting;

// A MInference silo with localhost clustering (dev / single machine). Settings: section "MInference"
// in appsettings.json, MINFERENCE__* environment variables, or --MInference:Name=value.
var builder = Host.CreateApplicationBuilder(args);
var settings = builder.Configuration.GetSection(MInferenceSiloOptions.SectionName).Get<MInferenceSiloOptions>() ?? new MInferenceSiloOptions();

// Validated before Orleans is composed: a bad port would otherwise fail deep inside Orleans without naming the setting.
var validation = new MInferenceSiloOptionsValidator().Validate(null, settings);
if (validation.Failed)
{
    await Console.Error.WriteLineAsync("the silo did not start: " + string.Join("; ", validation.Failures));
    return 2;
}

builder.UseOrleans(silo => silo
    .UseLocalhostClustering(
        settings.SiloPort,
        settings.GatewayPort,
        settings.PrimarySiloPort == 0 ? null : new IPEndPoint(IPAddress.Loopback, settings.PrimarySiloPort))
    .Configure<Orleans.Configuration.SiloOptions>(o => o.SiloName = settings.SiloName)
    .AddMInference(builder.Configuration));
await builder.Build().RunAsync();
return 0;
