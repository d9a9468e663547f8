using HaKit.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace TwoNode;

/// <summary>Builds the sample's host: configuration layers, logging to stderr, HaKit with one HTTP resource per configured group.</summary>
public static class SampleHost
{
    /// <summary>
    /// A host builder over <c>appsettings.json</c> next to the program, then <paramref name="configFiles"/> in order (the
    /// <c>--arbiter</c> overlay, the <c>--config</c> file), then environment variables, then <paramref name="hostArgs"/>: the
    /// later layer wins. Every group in <c>HaKit:Groups</c> gets an <see cref="HttpServiceResource"/> named <c>http</c> on its
    /// own address (<see cref="SampleOptions.AddressOf"/>).
    /// </summary>
    public static HostApplicationBuilder CreateBuilder(string[] hostArgs, IReadOnlyList<string> configFiles, StdoutReporter reporter)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = hostArgs,
            ContentRootPath = AppContext.BaseDirectory, // appsettings.json is copied next to the program
        });
        if (configFiles.Count > 0)
        {
            // Layered over appsettings.json; environment variables and the command line still win over them.
            foreach (var file in configFiles)
            {
                builder.Configuration.AddJsonFile(file, optional: false, reloadOnChange: false);
            }

            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(hostArgs);
        }

        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        var groups = builder.Configuration.GetSection("HaKit:Groups").GetChildren()
            .Select(g => g["Name"])
            .OfType<string>()
            .Where(n => n.Length > 0)
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        builder.Services.AddSingleton(reporter);
        builder.Services.AddOptions<SampleOptions>().Bind(builder.Configuration.GetSection("Sample")).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SampleOptions>>(new SampleOptionsValidation(groups));
        // UseEtcd (package HaKit.Etcd) lets --arbiter etcd work; in the other modes the etcd store is never created.
        // UseGrpcLinks (package HaKit.Grpc) lets a link be of kind Grpc (--config appsettings.grpc.json adds one next to lan0).
        var hakit = builder.Services.AddHaKit().UseEtcd().UseGrpcLinks();
        foreach (var group in groups)
        {
            hakit.AddResource(group, sp => new HttpServiceResource(
                sp.GetRequiredService<IOptions<SampleOptions>>(), reporter, sp.GetRequiredService<ILogger<HttpServiceResource>>(), group));
        }

        hakit.Configure(o =>
        {
            // A relative state directory lives next to the program, not in whatever directory it was started from.
            if (o.StateDirectory.Length > 0 && !Path.IsPathRooted(o.StateDirectory))
            {
                o.StateDirectory = Path.Combine(AppContext.BaseDirectory, o.StateDirectory);
            }
        });
        builder.Services.AddHealthChecks().AddHaKit();
        return builder;
    }
}
