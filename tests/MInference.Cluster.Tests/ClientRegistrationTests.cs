using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MInference.Client;
using MInference.Shared.Networking;
using MInference.Silo.Hosting;

namespace MInference.Cluster.Tests;

public sealed class ClientRegistrationTests
{
    /// <summary>
    /// <c>services.AddMInferenceClient(gateways)</c> gives a host whose <see cref="MInferenceClient"/> reaches a
    /// silo listening on real loopback sockets through its gateway: it lists the silo's devices.
    /// </summary>
    [Fact]
    public async Task Registered_client_reaches_a_silo_through_its_gateway()
    {
        var ct = TestContext.Current.CancellationToken;
        var ports = LoopbackPorts.TakeFree(2);
        var gatewayPort = ports[1];
        var siloBuilder = Host.CreateApplicationBuilder();
        siloBuilder.Logging.ClearProviders();
        siloBuilder.UseOrleans(silo => silo
            .UseLocalhostClustering(ports[0], gatewayPort)
            .Configure<Orleans.Configuration.SiloOptions>(o => o.SiloName = "gateway-test")
            .AddMInference(configure: o =>
            {
                o.SiloName = "gateway-test";
                o.CpuThreadsPerDevice = 1;
            }));
        using var silo = siloBuilder.Build();
        await silo.StartAsync(ct);
        var clientBuilder = Host.CreateApplicationBuilder();
        clientBuilder.Logging.ClearProviders();
        clientBuilder.Services.AddMInferenceClient([new IPEndPoint(IPAddress.Loopback, gatewayPort)]);
        using var client = clientBuilder.Build();
        try
        {
            await client.StartAsync(ct);
            var devices = await client.Services.GetRequiredService<MInferenceClient>().GetDevicesAsync(ct);

            Assert.Contains(devices, d => d.SiloName == "gateway-test");
        }
        finally
        {
            await client.StopAsync(CancellationToken.None);
            await silo.StopAsync(CancellationToken.None);
        }
    }
}
