using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace MInference.Cluster.Tests;

/// <summary>Keeps the event id and message of every log entry at Information or above, for tests that check something happened inside a silo.</summary>
public sealed class RecordingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<(int EventId, string Message)> _entries = new();

    public IReadOnlyList<string> Messages(int eventId) => [.. _entries.Where(e => e.EventId == eventId).Select(e => e.Message)];

    /// <summary>Writes every entry to the test's output (shown when it fails).</summary>
    public void WriteToTestOutput()
    {
        foreach (var (eventId, message) in _entries)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"[{eventId}] {message}");
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(_entries);

    public void Dispose()
    {
    }

    private sealed class Logger(ConcurrentQueue<(int EventId, string Message)> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
            => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                entries.Enqueue((eventId.Id, formatter(state, exception)));
            }
        }
    }
}
