using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using MInference.Silo.Hosting;

// A MInference silo with localhost clustering (dev / single machine). Settings: section "MInference"
// in appsettings.json, MINFERENCE__* environment variables, or --MInference:Name=value.
var builder = Host.CreateApplicationBuilder(args);
builder.Configuration.AddEnvironmentVariables();
var settings = builder.Configuration.GetSection(MInferenceSiloOptions.SectionName).Get<MInferenceSiloOptions>() ?? new MInferenceSiloOptions();
builder.UseOrleans(silo => silo
    .UseLocalhostClustering(settings.SiloPort, settings.GatewayPort)
    .Configure<Orleans.Configuration.SiloOptions>(o => o.SiloName = settings.SiloName)
    .AddMInference(builder.Configuration));
try
{
    await builder.Build().RunAsync();
    return 0;
}
catch (Microsoft.Extensions.Options.OptionsValidationException e)
{
    await Console.Error.WriteLineAsync("the silo did not start: " + string.Join("; ", e.Failures));
    return 2;
}
