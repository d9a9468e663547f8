using System.Diagnostics.Metrics;
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

    /// <summary>Binds the section; a value that does not convert or an unknown key becomes a validation error instead of an exception.</summary>
    internal static void Bind(WitnessOptions options, IConfigurationSection section)
    {
        try
        {
            section.Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            options.BindingErrors.Add($"{section.Path}: {ex.Message} Fix the value (durations are hh:mm:ss, e.g. 00:00:30) or remove the unknown key.");
        }
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
