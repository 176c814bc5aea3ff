using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MInference.Silo.Hosting;

namespace MInference.Cluster.ProcessTests;

public sealed class SiloDrainerTests
{
    /// <summary>The drain returns once the last job has left the devices, with nothing left over.</summary>
    [Fact]
    public async Task Drain_waits_until_the_jobs_finish()
    {
        var work = new ScriptedWork([["job-a", "job-b"], ["job-b"], []]);
        var drainer = Drainer(work, TimeSpan.FromMinutes(5));

        var left = await drainer.DrainAsync(TestContext.Current.CancellationToken);

        Assert.Empty(left);
        Assert.Equal(3, work.Calls);
    }

    /// <summary>Jobs that outlive the drain timeout are returned (and logged) instead of holding the stop forever.</summary>
    [Fact]
    public async Task Drain_gives_up_after_the_timeout_and_reports_what_is_left()
    {
        var work = new ScriptedWork([["job-stuck"]]);
        var drainer = Drainer(work, TimeSpan.FromMilliseconds(600));

        var left = await drainer.DrainAsync(TestContext.Current.CancellationToken);

        Assert.Equal(["job-stuck"], left);
        Assert.True(work.Calls >= 2, $"the drain looked at the devices {work.Calls} time(s)");
    }

    /// <summary>A silo with nothing running stops at once, without a single wait.</summary>
    [Fact]
    public async Task Idle_silo_does_not_wait()
    {
        var work = new ScriptedWork([[]]);

        var left = await Drainer(work, TimeSpan.FromMinutes(5)).DrainAsync(TestContext.Current.CancellationToken);

        Assert.Empty(left);
        Assert.Equal(1, work.Calls);
    }

    private static SiloDrainer Drainer(IInFlightWork work, TimeSpan timeout)
        => new(work, Options.Create(new MInferenceSiloOptions { DrainTimeout = timeout }), TimeProvider.System, NullLogger<SiloDrainer>.Instance);

    /// <summary>Answers each look at the devices with the next scripted job list; the last one repeats.</summary>
    private sealed class ScriptedWork(string[][] script) : IInFlightWork
    {
        public int Calls { get; private set; }

        public IReadOnlyCollection<string> ActiveJobIds() => script[Math.Min(Calls++, script.Length - 1)];
    }
}
