// TwoNode.Console: one program started twice (--node a, --node b). The node that owns group "web" serves HTTP on the
// shared address; kill it and the other one takes over. Stdout carries only machine-readable lines; logs go to stderr.
using HaKit;
using HaKit.Hosting;
using HaKit.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using TwoNode;

const int ConfigError = 2;

if (!CommandLine.TryTranslate(args, out var hostArgs, out var configFile, out var argError))
{
    Console.Error.WriteLine(argError);
    Console.Error.WriteLine("usage: TwoNode.Console --node <a|b> [--config <file.json>] [--HaKit:Key=value ...] [--Sample:HttpAddress=ip:port]");
    return ConfigError;
}

IHost host;
try
{
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
    {
        Args = hostArgs,
        ContentRootPath = AppContext.BaseDirectory, // appsettings.json is copied next to the program
    });
    if (configFile is not null)
    {
        // Layered over appsettings.json; environment variables and the command line still win over it.
        builder.Configuration.AddJsonFile(configFile, optional: false, reloadOnChange: false);
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

    builder.Services.AddSingleton(new StdoutReporter());
    builder.Services.AddOptions<SampleOptions>().Bind(builder.Configuration.GetSection("Sample")).ValidateOnStart();
    builder.Services.AddSingleton<IValidateOptions<SampleOptions>, SampleOptionsValidation>();
    builder.Services.AddHaKit()
        .AddResource<HttpServiceResource>("web")
        .Configure(o =>
        {
            // A relative state directory lives next to the program, not in whatever directory it was started from.
            if (o.StateDirectory.Length > 0 && !Path.IsPathRooted(o.StateDirectory))
            {
                o.StateDirectory = Path.Combine(AppContext.BaseDirectory, o.StateDirectory);
            }
        });
    builder.Services.AddHealthChecks().AddHaKit();
    host = builder.Build();
}
catch (Exception ex) when (ex is InvalidDataException or FileNotFoundException or FormatException or InvalidOperationException)
{
    Console.Error.WriteLine($"invalid configuration: {ex.Message}");
    return ConfigError;
}

using (host)
{
    var reporter = host.Services.GetRequiredService<StdoutReporter>();
    // Validate both option sets up front so that every problem is reported at once.
    var failures = new List<string>();
    foreach (var validate in new Action[]
             {
                 () => _ = host.Services.GetRequiredService<IOptions<HaKitOptions>>().Value,
                 () => _ = host.Services.GetRequiredService<IOptions<SampleOptions>>().Value,
             })
    {
        try
        {
            validate();
        }
        catch (OptionsValidationException ex)
        {
            failures.AddRange(ex.Failures);
        }
    }

    if (failures.Count > 0)
    {
        Console.Error.WriteLine("invalid configuration:");
        failures.ForEach(f => Console.Error.WriteLine($"  - {f}"));
        return ConfigError;
    }

    ClusterNode node;
    try
    {
        node = host.Services.GetRequiredService<ClusterNode>();
        node.EventRaised += reporter.OnEvent;
        await host.StartAsync();
    }
    catch (OptionsValidationException ex)
    {
        Console.Error.WriteLine("invalid configuration:");
        foreach (var failure in ex.Failures)
        {
            Console.Error.WriteLine($"  - {failure}");
        }

        return ConfigError;
    }
    catch (HaKitConfigurationException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return ConfigError;
    }
    catch (Exception ex)
    {
        Console.Error.WriteLine($"start-up failed: {ex.Message}");
        return 1;
    }

    reporter.Ready(node.NodeName);

    // SIGTERM / Ctrl-C: the console lifetime stops the host; the hosted node hands its groups to the peer first.
    await host.WaitForShutdownAsync();
    reporter.Exit();
    return 0;
}
