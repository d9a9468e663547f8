using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace HaKit.Etcd.Tests;

/// <summary>A logger provider that keeps every line a host or component logs (also linked into HaKit.Replication.Tests).</summary>
internal sealed class LogSink : ILoggerProvider, ILogger
{
    /// <summary>Each line's text.</summary>
    public ConcurrentQueue<string> Lines { get; } = new();

    /// <summary>Each line with its level and event id.</summary>
    public ConcurrentQueue<(LogLevel Level, int EventId, string Text)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var text = formatter(state, exception);
        Lines.Enqueue(text);
        Entries.Enqueue((logLevel, eventId.Id, text));
    }

    public void Dispose()
    {
    }
}
