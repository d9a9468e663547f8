using System.Diagnostics.Metrics;
using HaKit.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace HaKit.Replication;

/// <summary>
/// Opens every registered group's log and starts the replication transport before any hosted service starts (so before the
/// node can start a group), and closes them after every hosted service stopped (after the node handed its groups over).
/// </summary>
internal sealed class ReplicationHostedService(IServiceProvider services, ReplicationRegistry registry, ReplicatedGroups groups) : IHostedLifecycleService
{
    private readonly List<ReplicatedLog> _logs = [];
    private ReplicationTransport? _transport;

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var host = services.GetRequiredService<IOptions<ReplicationHostOptions>>().Value;
        var node = services.GetRequiredService<IOptions<HaKitOptions>>().Value;
        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var meters = services.GetService<IMeterFactory>();
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var arbiterMarks = ReplicationHostSetup.ArbiterMarks(host, node, services);
        try
        {
            foreach (var registration in registry.Groups)
            {
                var options = ReplicationHostSetup.GroupOptions(host, node, registration, time);
                options.ArbiterMarks = arbiterMarks;
                var log = await ReplicatedLog.OpenAsync(options, registration.StateMachine(services), loggers, meters, cancellationToken).ConfigureAwait(false);
                _logs.Add(log);
                registration.Opened?.Invoke(services, log);
                groups.Add(log);
            }

            _transport = new ReplicationTransport(ReplicationHostSetup.TransportOptions(host, node, $"{services.GetRequiredService<HaKitRegistry>().SectionName}:Replication"), loggers, time);
            foreach (var log in _logs)
            {
                _transport.Attach(log);
            }

            await _transport.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await CloseAsync().ConfigureAwait(false);
            throw;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => CloseAsync();

    private async Task CloseAsync()
    {
        groups.Clear();
        var transport = Interlocked.Exchange(ref _transport, null);
        if (transport is not null)
        {
            await transport.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var log in _logs)
        {
            await log.DisposeAsync().ConfigureAwait(false);
        }

        _logs.Clear();
    }
}
