// TwoNode.Console: one program started twice (--node a, --node b), or three times with the three-node etcd config. The node
// that owns a group serves HTTP on the group's shared address; kill it and another one takes over. --arbiter picks the
// arbiter (twonode, witness, etcd). Stdout carries only machine-readable lines; logs go to stderr.
using HaKit;
using HaKit.Hosting;
using HaKit.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using TwoNode;

const int ConfigError = 2;
const string Usage = "usage: TwoNode.Console --node <a|b|c> [--arbiter twonode|witness|etcd] [--config <file.json>] [--HaKit:Key=value ...] [--Sample:HttpAddress=ip:port]";

if (args is ["--help"] or ["-h"])
{
    Console.WriteLine(Usage);
    Console.WriteLine("The owner of group 'web' serves HTTP on its shared address (127.0.0.1:8080); see samples/TwoNode.Console/README.md.");
    return 0;
}

if (!CommandLine.TryTranslate(args, out var hostArgs, out var configFiles, out var argError))
{
    Console.Error.WriteLine(argError);
    Console.Error.WriteLine(Usage);
    return ConfigError;
}

using var reporter = new StdoutReporter();
IHost host;
try
{
    host = SampleHost.CreateBuilder(hostArgs, configFiles, reporter).Build();
}
catch (Exception ex) when (ex is InvalidDataException or FileNotFoundException or FormatException or InvalidOperationException)
{
    Console.Error.WriteLine($"invalid configuration: {ex.Message}");
    return ConfigError;
}

using (host)
{
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

    reporter.Ready(node.NodeName, host.Services.GetRequiredService<IOptions<HaKitOptions>>().Value.Arbiter.Mode.ToString(),
        host.Services.GetRequiredService<IHaKitAdminEndpoint>().Endpoint);

    // SIGTERM / Ctrl-C: the console lifetime stops the host; the hosted node hands its groups to the peer first.
    await host.WaitForShutdownAsync();
    reporter.Exit();
    return 0;
}
