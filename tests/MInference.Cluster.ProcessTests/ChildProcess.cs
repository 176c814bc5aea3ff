using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace MInference.Cluster.ProcessTests;

/// <summary>
/// A process this test started: its output is kept (for the test log on failure), a marker line in it
/// completes <see cref="Ready"/>, and disposing kills it with its children whatever happened.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _readyMarker;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _awaitedLines = new(StringComparer.Ordinal);

    private ChildProcess(string name, ProcessStartInfo start, string readyMarker)
    {
        Name = name;
        _readyMarker = readyMarker;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.Exited += (_, _) => _ready.TrySetException(new InvalidOperationException(
            $"{Name} exited with code {_process.ExitCode} before it logged '{_readyMarker}'"));
    }

    public string Name { get; }

    /// <summary>Completes when the marker line is logged; faults when the process exits first.</summary>
    public Task Ready => _ready.Task;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output => string.Join('\n', _lines);

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, string readyMarker)
    {
        var start = new ProcessStartInfo(fileName);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The children log plainly (no colours) and never wait for a terminal.
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["NO_COLOR"] = "1";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        var child = new ChildProcess(name, start, readyMarker);
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    public async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await Ready.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Name} did not log '{_readyMarker}' within {timeout}; its output:\n{Output}");
        }
    }

    /// <summary>
    /// Waits until a line containing <paramref name="marker"/> has been logged (already or later), e.g. a
    /// web server's "Now listening on", which comes after the silo's own ready marker.
    /// </summary>
    public async Task WaitForLineAsync(string marker, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var seen = _awaitedLines.GetOrAdd(marker, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        // Lines logged before the wait started count too.
        if (_lines.Any(l => l.Contains(marker, StringComparison.Ordinal)))
        {
            seen.TrySetResult();
        }

        try
        {
            await seen.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Name} did not log '{marker}' within {timeout}; its output:\n{Output}");
        }
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>Kills the process at once (no graceful stop): what a crashed machine looks like to the cluster.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>Sends SIGTERM (what Ctrl+C, docker stop and Kubernetes send) and waits for the process to exit.</summary>
    public async Task TerminateAsync(CancellationToken cancellationToken)
    {
        using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture) } })!)
        {
            await kill.WaitForExitAsync(cancellationToken);
        }

        await _process.WaitForExitAsync(cancellationToken);
    }

    /// <summary>The last <paramref name="lines"/> lines of output, headed by the process name, for the test log.</summary>
    public string Tail(int lines = 200)
    {
        var all = _lines.ToArray();
        var text = new StringBuilder().Append("----- ").Append(Name).AppendLine(" -----");
        foreach (var line in all.Skip(Math.Max(0, all.Length - lines)))
        {
            text.AppendLine(line);
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        if (line.Contains(_readyMarker, StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }

        foreach (var (marker, seen) in _awaitedLines)
        {
            if (line.Contains(marker, StringComparison.Ordinal))
            {
                seen.TrySetResult();
            }
        }
    }
}
