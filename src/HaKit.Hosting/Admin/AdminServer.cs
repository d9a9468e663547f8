using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using HaKit.Admin;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Admin;

/// <summary>
/// Serves the admin API on a small embedded Kestrel (the host itself need not be a web app): the Unix socket (mode 0600, set after
/// bind and before listen, checked after start; a stale socket is replaced, the file removed at stop) and, only when configured, a
/// TCP endpoint with mutual TLS. Starts before the node (so its event journal misses nothing) and stops after it (so the handover at
/// shutdown can be watched).
/// </summary>
internal sealed class AdminServer(IServiceProvider services, HaKitRegistry registry) : IHostedService, IHaKitAdminEndpoint, IDisposable
{
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(2);
    private readonly ILoggerFactory _loggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
    private WebApplication? _app;
    private AdminEventJournal? _journal;
    private string? _socketPath;

    public string? Endpoint { get; private set; }

    public string? TcpEndpoint { get; private set; }

    /// <summary>The event journal (tests).</summary>
    internal AdminEventJournal? Journal => _journal;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = services.GetRequiredService<IOptions<HaKitOptions>>().Value;
        if (!options.Admin.Enabled)
        {
            return;
        }

        var logger = _loggerFactory.CreateLogger("HaKit.Hosting");
        var node = services.GetRequiredService<ClusterNode>();
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var section = registry.SectionName;
        var socketPath = options.Admin.ResolveSocketPath(options);
        AdminSocketGuard.Prepare(socketPath, $"{section}:Admin:SocketPath");

        var journal = new AdminEventJournal(options.Admin.EventBuffer, time);
        journal.Attach(node);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "HaKit.Admin" });
        builder.Logging.AddProvider(new ForwardingLoggerProvider(_loggerFactory));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseSockets(o => o.CreateBoundListenSocket = endPoint =>
        {
            var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endPoint);
            if (endPoint is UnixDomainSocketEndPoint && !OperatingSystem.IsWindows())
            {
                // Bound, not yet listening: nobody can connect before the mode is 0600.
                File.SetUnixFileMode(socketPath, AdminSocketGuard.SocketMode);
            }

            return socket;
        });
        var tcp = options.Admin.Tcp;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.ListenUnixSocket(socketPath, l => l.Protocols = HttpProtocols.Http2);
            if (!string.IsNullOrWhiteSpace(tcp.Endpoint))
            {
                var serverCertificate = AdminCertificates.LoadWithKey(tcp.CertificateFile, tcp.KeyFile);
                var roots = string.IsNullOrEmpty(tcp.ClientCaFile) ? null : AdminCertificates.LoadPemBundle(tcp.ClientCaFile);
                var thumbprints = tcp.ClientThumbprints.Select(AdminCertificates.NormaliseThumbprint).ToArray();
                k.Listen(IPEndPoint.Parse(tcp.Endpoint), l =>
                {
                    l.Protocols = HttpProtocols.Http2;
                    l.UseHttps(new HttpsConnectionAdapterOptions
                    {
                        ServerCertificate = serverCertificate,
                        SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                        ClientCertificateValidation = (certificate, _, errors) => AdminCertificates.IsAccepted(certificate, roots, thumbprints, errors),
                    });
                });
            }
        });
        builder.Services.AddGrpc();
        var catalog = services.GetService<ResourceCatalog>();
        builder.Services.AddSingleton(new ClusterAdminService(node, options, journal)
        {
            GroupResources = group => catalog?.Resolved?.ByGroup.GetValueOrDefault(group) ?? [],
            StatusSources = [.. services.GetServices<IAdminStatusSource>()],
            Logger = logger,
            Time = time,
        });
        var app = builder.Build();
        app.MapGrpcService<ClusterAdminService>();
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            if (!OperatingSystem.IsWindows() && AdminSocketGuard.ModeOf(socketPath) != AdminSocketGuard.SocketMode)
            {
                throw new InvalidOperationException(
                    $"{section}:Admin:SocketPath = {socketPath}: the admin socket has mode {Convert.ToString((int)AdminSocketGuard.ModeOf(socketPath), 8)}, not 0600; refusing to serve it (does the file system honour permissions?)");
            }
        }
        catch (Exception ex)
        {
            journal.Close();
            await app.DisposeAsync().ConfigureAwait(false);
            AdminSocketGuard.Remove(socketPath);
            if (ex is IOException or SocketException)
            {
                throw new InvalidOperationException($"{section}:Admin: the admin API could not listen ({ex.Message}); fix the socket path or the TCP endpoint, or set {section}:Admin:Enabled = false", ex);
            }

            throw;
        }

        _app = app;
        _journal = journal;
        _socketPath = socketPath;
        Endpoint = "unix:" + socketPath;
        TcpEndpoint = string.IsNullOrWhiteSpace(tcp.Endpoint) ? null : "https://" + tcp.Endpoint;
        HostingLog.AdminListening(logger, node.NodeName, Endpoint + (TcpEndpoint is null ? "" : " and " + TcpEndpoint + " (mutual TLS)"));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var app = Interlocked.Exchange(ref _app, null);
        if (app is null)
        {
            return;
        }

        // Watch streams end first (a stopping Kestrel waits for open requests).
        _journal?.Close();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(StopBound);
        try
        {
            await app.StopAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Open calls are cut off.
        }

        await app.DisposeAsync().ConfigureAwait(false);
        if (_socketPath is { } path)
        {
            AdminSocketGuard.Remove(path);
        }

        Endpoint = null;
        TcpEndpoint = null;
    }

    /// <summary>A host that never stopped (its start failed after this service started): the socket is still closed and removed, bounded.</summary>
    public void Dispose() => StopAsync(CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Kestrel's and gRPC's warnings go to the host's logging.</summary>
    private sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

        public void Dispose()
        {
            // The host owns the factory.
        }
    }
}
