using Microsoft.Extensions.Options;

namespace HaKit.Hosting;

/// <summary>
/// Start-up validation of <see cref="HaKitOptions"/>: values that did not bind, <see cref="HaKitOptionsValidator.Validate"/>,
/// and the match between configured groups and registered resources. Every failure names the key, the value and the fix.
/// </summary>
internal sealed class HaKitOptionsValidation(HaKitRegistry registry, ResourceCatalog catalog) : IValidateOptions<HaKitOptions>
{
    public ValidateOptionsResult Validate(string? name, HaKitOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>(HaKitOptionsBinder.ErrorsOf(options));
        failures.AddRange(HaKitOptionsValidator.Validate(options).Select(Rebase));
        failures.AddRange(catalog.Resolve(options).Errors);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>The core validator names keys under <c>HaKit:</c>; use the section the options were bound from.</summary>
    private string Rebase(string error)
    {
        const string prefix = HaKitOptionsValidator.Section + ":";
        return registry.SectionName != HaKitOptionsValidator.Section && error.StartsWith(prefix, StringComparison.Ordinal)
            ? registry.SectionName + ":" + error[prefix.Length..]
            : error;
    }
}
