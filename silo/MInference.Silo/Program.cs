using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using MInference.Silo.Hosting;
using Orleans.Dashboard;

// A MInference silo. Settings: section "MInference" in appsettings.json, MINFERENCE__* environment
// variables, or --MInference:Name=value (later sources win). Clustering=Localhost for one machine,
// Redis for deployments (docs/OPERATIONS.md).
var probe = Host.CreateApplicationBuilder(args);

// Validated before Orleans is composed: a bad port or connection string would otherwise fail deep inside Orleans without naming the setting.
if (!SiloSettingsLoader.TryLoad(probe.Configuration, out var settings, out var failures))
{
    await Console.Error.WriteLineAsync("the silo did not start: " + string.Join("; ", failures));
    return 2;
}

IHost host;
if (settings.DashboardEnabled)
{
    // The dashboard is ASP.NET Core endpoints served from the silo's own container, so the silo becomes a web host.
    var web = WebApplication.CreateBuilder(args);
    web.WebHost.UseUrls(new UriBuilder(Uri.UriSchemeHttp, settings.DashboardListenAddress, settings.DashboardPort).Uri.ToString());
    web.UseOrleans(silo => silo.UseMInferenceHosting(settings).AddMInference(web.Configuration));
    var app = web.Build();
    // The probe only read the settings; its configuration (and the file watchers behind it) is not used again.
    probe.Configuration.Dispose();
    app.MapOrleansDashboard();
    host = app;
}
else
{
    // Without the dashboard the silo opens no HTTP port at all.
    probe.UseOrleans(silo => silo.UseMInferenceHosting(settings).AddMInference(probe.Configuration));
    host = probe.Build();
}

try
{
    await host.RunAsync();
    return 0;
}
#pragma warning disable CA1031 // Any start failure (Redis unreachable, port taken) ends the process with its reason, not a stack dump only.
catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
{
    await Console.Error.WriteLineAsync($"the silo stopped: {e.GetType().Name}: {e.Message}");
    return 1;
}
finally
{
    host.Dispose();
}
