using System.Net;
using HaKit;
using HaKit.Replication;
using HaKit.Resources;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TwoNode;

namespace ReplicatedKv;

/// <summary>
/// The key-value service, bound only while this node owns group <c>kv</c>: <c>PUT /kv/{key}</c> (body = value) answers
/// <c>200 epoch=E index=I</c> once the write is acknowledged in the group's mode; <c>GET /kv/{key}</c> answers the value or 404.
/// </summary>
internal sealed class KvHttpResource(ReplicatedKvStore store, IPEndPoint address, StdoutReporter reporter, ILoggerFactory loggerFactory) : IResource
{
    private WebApplication? _app;

    public string Name => "http";

    public bool DiesWithProcess => true;

    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            return ResourceResult.Success;
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "ReplicatedKv" });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(address, l => l.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddRouting();
        var app = builder.Build();
        app.UseRouting();
        app.MapPut("/kv/{key}", async (string key, HttpRequest request, CancellationToken ct) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body, ct);
            try
            {
                var position = await store.PutAsync(key, body.ToArray(), ct);
                return Results.Text($"epoch={position.Epoch} index={position.Index}\n");
            }
            catch (InvalidOperationException ex)
            {
                return Results.Text(ex.Message + "\n", statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
        app.MapGet("/kv/{key}", (string key) =>
            store.TryGet(key, out var value) ? Results.Bytes(value, "application/octet-stream") : Results.NotFound());
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            await app.DisposeAsync();
            return ResourceResult.Transient($"cannot bind {address}: {ex.Message}", ex);
        }

        _app = app;
        reporter.HttpListening(context.Group, address.ToString(), context.Epoch);
        return ResourceResult.Success;
    }

    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (_app is { } app)
        {
            _app = null;
            try
            {
                await app.StopAsync(cancellationToken);
            }
            finally
            {
                await app.DisposeAsync();
            }

            reporter.HttpStopped(context.Group, address.ToString());
        }

        return ResourceResult.Success;
    }

    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_app is null ? MonitorResult.NotRunning("not serving") : MonitorResult.Running);
}
