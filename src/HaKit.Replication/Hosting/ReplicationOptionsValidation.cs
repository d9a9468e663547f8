using HaKit.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaKit.Replication;

/// <summary>Start-up validation of <c>HaKit:Replication</c> (see <see cref="ReplicationHostSetup.Validate"/>).</summary>
internal sealed class ReplicationOptionsValidation(ReplicationRegistry registry, HaKitRegistry hakit, IServiceProvider services) : IValidateOptions<ReplicationHostOptions>
{
    public ValidateOptionsResult Validate(string? name, ReplicationHostOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        ArgumentNullException.ThrowIfNull(options);
        HaKitOptions? node;
        try
        {
            node = services.GetRequiredService<IOptions<HaKitOptions>>().Value;
        }
        catch (OptionsValidationException)
        {
            node = null; // HaKit's own validation reports it; the checks that need the node's options are skipped
        }

        var errors = ReplicationHostSetup.Validate(options, node, registry, $"{hakit.SectionName}:Replication", $"{hakit.SectionName}:Nodes");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
