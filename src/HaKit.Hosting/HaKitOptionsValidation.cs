using Microsoft.Extensions.Options;

namespace HaKit.Hosting;

/// <summary>
/// Start-up validation of <see cref="HaKitOptions"/>: values that did not bind, <see cref="HaKitOptionsValidator.Validate(HaKitOptions, string)"/> (keys named under the bound section),
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
        failures.AddRange(HaKitOptionsValidator.Validate(options, registry.SectionName));
        failures.AddRange(catalog.Resolve(options).Errors);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
