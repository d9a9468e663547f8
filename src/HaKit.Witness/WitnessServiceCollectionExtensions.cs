using System.Diagnostics.Metrics;
using System.Globalization;
using HaKit.Wire;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HaKit.Witness;

/// <summary>Runs a HaKit witness inside a Microsoft.Extensions host.</summary>
public static class WitnessServiceCollectionExtensions
{
    /// <summary>
    /// Adds a witness server configured from <c>HaKit:Witness</c> in <paramref name="configuration"/>: binds <see cref="WitnessOptions"/>,
    /// validates them when the host starts (an <see cref="OptionsValidationException"/> naming every bad key, its value and the fix),
    /// registers the <see cref="WitnessServer"/> as a singleton (resolve it for <see cref="WitnessServer.LocalEndpoint"/> or the
    /// counters) and a hosted service that starts it with the host and stops it at shutdown.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The configuration holding the <c>HaKit:Witness</c> section (usually the host's root configuration).</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="InvalidOperationException">A witness was already added.</exception>
    public static IServiceCollection AddHaKitWitness(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        if (services.Any(d => d.ServiceType == typeof(WitnessHostedService)))
        {
            throw new InvalidOperationException("AddHaKitWitness was called twice; one host runs one witness (it serves every cluster listed in HaKit:Witness:Clusters).");
        }

        services.AddOptions<WitnessOptions>()
            .Configure(options => Bind(options, configuration.GetSection(WitnessOptions.Section)))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<WitnessOptions>, WitnessOptionsValidation>();
        services.AddSingleton(sp => new WitnessServer(
            sp.GetRequiredService<IOptions<WitnessOptions>>().Value,
            sp.GetService<TimeProvider>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<IMeterFactory>()));
        services.AddSingleton<WitnessHostedService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<WitnessHostedService>());
        return services;
    }

    /// <summary>
    /// Binds the section. A value that does not convert or an unknown key becomes a validation error naming the key (instead of an
    /// exception from the binder at the first problem, or a silently ignored setting), and binding goes on with the other keys.
    /// </summary>
    internal static void Bind(WitnessOptions options, IConfigurationSection section)
    {
        var errors = options.BindingErrors;
        Known(section, errors, nameof(WitnessOptions.Name), nameof(WitnessOptions.Listen), nameof(WitnessOptions.MaxLeaseTtl), nameof(WitnessOptions.MaxGroupsPerCluster), nameof(WitnessOptions.StateDirectory), nameof(WitnessOptions.Clusters));
        options.Name = section[nameof(WitnessOptions.Name)] ?? options.Name;
        options.Listen = section[nameof(WitnessOptions.Listen)] ?? options.Listen;
        options.StateDirectory = section[nameof(WitnessOptions.StateDirectory)] ?? options.StateDirectory;
        var ttl = section.GetSection(nameof(WitnessOptions.MaxLeaseTtl));
        if (ttl.Value is { } ttlText)
        {
            if (TimeSpan.TryParse(ttlText, CultureInfo.InvariantCulture, out var parsed))
            {
                options.MaxLeaseTtl = parsed;
            }
            else
            {
                errors.Add($"{ttl.Path} = '{ttlText}': expects a duration hh:mm:ss[.fff], e.g. 00:00:30");
            }
        }

        var maxGroups = section.GetSection(nameof(WitnessOptions.MaxGroupsPerCluster));
        if (maxGroups.Value is { } maxGroupsText)
        {
            if (int.TryParse(maxGroupsText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsedMax))
            {
                options.MaxGroupsPerCluster = parsedMax;
            }
            else
            {
                errors.Add($"{maxGroups.Path} = '{maxGroupsText}': expects a whole number of groups, e.g. 1024");
            }
        }

        foreach (var c in section.GetSection(nameof(WitnessOptions.Clusters)).GetChildren())
        {
            Known(c, errors, nameof(WitnessClusterOptions.Name), nameof(WitnessClusterOptions.Nodes), nameof(WitnessClusterOptions.Auth));
            var cluster = new WitnessClusterOptions { Name = c[nameof(WitnessClusterOptions.Name)] ?? "" };
            cluster.Nodes.AddRange(c.GetSection(nameof(WitnessClusterOptions.Nodes)).GetChildren().Select(n => n.Value ?? ""));
            var auth = c.GetSection(nameof(WitnessClusterOptions.Auth));
            Known(auth, errors, nameof(AuthOptions.Keys), nameof(AuthOptions.SendKeyId));
            cluster.Auth.SendKeyId = UInt(auth.GetSection(nameof(AuthOptions.SendKeyId)), errors);
            foreach (var k in auth.GetSection(nameof(AuthOptions.Keys)).GetChildren())
            {
                Known(k, errors, nameof(AuthKeyOptions.Id), nameof(AuthKeyOptions.Secret));
                cluster.Auth.Keys.Add(new AuthKeyOptions { Id = UInt(k.GetSection(nameof(AuthKeyOptions.Id)), errors), Secret = k[nameof(AuthKeyOptions.Secret)] ?? "" });
            }

            options.Clusters.Add(cluster);
        }
    }

    private static void Known(IConfigurationSection section, List<string> errors, params string[] keys)
    {
        // Values under Auth are never shown: a misspelt key may hold a secret.
        var hide = section.Path.Contains(":Auth", StringComparison.OrdinalIgnoreCase);
        foreach (var child in section.GetChildren())
        {
            if (!keys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                var shown = child.Value is null ? "(a section)" : hide ? "(not shown)" : $"'{child.Value}'";
                errors.Add($"{child.Path} = {shown}: unknown setting; known settings in {section.Path}: {string.Join(", ", keys)}");
            }
        }
    }

    private static uint UInt(IConfigurationSection value, List<string> errors)
    {
        if (value.Value is not { } text)
        {
            return 0;
        }

        if (uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            return parsed;
        }

        errors.Add($"{value.Path} = '{text}': expects a whole number in 1..4294967295");
        return 0;
    }
}

/// <summary>Start-up validation of <see cref="WitnessOptions"/> (<see cref="WitnessOptionsValidator"/>).</summary>
internal sealed class WitnessOptionsValidation : IValidateOptions<WitnessOptions>
{
    public ValidateOptionsResult Validate(string? name, WitnessOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = WitnessOptionsValidator.Validate(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Starts the <see cref="WitnessServer"/> with the host and stops it at shutdown (the container disposes it).</summary>
internal sealed class WitnessHostedService(WitnessServer server) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => server.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => server.StopAsync(cancellationToken);
}
