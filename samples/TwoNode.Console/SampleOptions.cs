using System.Net;
using Microsoft.Extensions.Options;

namespace TwoNode;

/// <summary>The sample's own settings (section <c>Sample</c>).</summary>
public sealed class SampleOptions
{
    /// <summary>The group whose address is <see cref="HttpAddress"/>.</summary>
    public const string DefaultGroup = "web";

    /// <summary>The shared service address the owner of group <c>web</c> binds (a stand-in for a virtual IP).</summary>
    public string HttpAddress { get; set; } = "127.0.0.1:8080";

    /// <summary>
    /// The shared service addresses of the other groups, by group name (<c>Sample:HttpAddresses:api=127.0.0.1:8081</c>): every
    /// configured group gets its own HTTP resource, bound by the group's owner. An entry for <c>web</c> wins over <see cref="HttpAddress"/>.
    /// </summary>
    public Dictionary<string, string> HttpAddresses { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The parsed <see cref="HttpAddress"/>.</summary>
    public IPEndPoint Endpoint => IPEndPoint.Parse(HttpAddress);

    /// <summary>The configured address of <paramref name="group"/>, or null when it has none.</summary>
    public string? AddressOf(string group) =>
        HttpAddresses.TryGetValue(group, out var address) ? address
        : group == DefaultGroup ? HttpAddress
        : null;
}

/// <summary>
/// Validates <see cref="SampleOptions"/> at start-up: every address is <c>ip:port</c> with a non-zero port, every group in
/// <paramref name="groups"/> has one, and no two groups share one.
/// </summary>
/// <param name="groups">The configured group names (<c>HaKit:Groups:n:Name</c>); none checks <see cref="SampleOptions.HttpAddress"/> only.</param>
public sealed class SampleOptionsValidation(IReadOnlyList<string> groups) : IValidateOptions<SampleOptions>
{
    /// <summary>Validates <see cref="SampleOptions.HttpAddress"/> and <see cref="SampleOptions.HttpAddresses"/> only.</summary>
    public SampleOptionsValidation()
        : this([])
    {
    }

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SampleOptions options)
    {
        var failures = new List<string>();
        Check("Sample:HttpAddress", options.HttpAddress, "127.0.0.1:8080");
        foreach (var (group, address) in options.HttpAddresses)
        {
            Check($"Sample:HttpAddresses:{group}", address, "127.0.0.1:8081");
        }

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var group in groups)
        {
            var address = options.AddressOf(group);
            if (address is null)
            {
                failures.Add($"Sample:HttpAddresses:{group} = (none): group {group} has no HTTP address; set one, e.g. --Sample:HttpAddresses:{group}=127.0.0.1:8081");
            }
            else if (owners.TryGetValue(address, out var other))
            {
                var key = group == SampleOptions.DefaultGroup && !options.HttpAddresses.ContainsKey(group) ? "Sample:HttpAddress" : $"Sample:HttpAddresses:{group}";
                failures.Add($"{key} = '{address}': group {other} has the same address; give every group its own");
            }
            else
            {
                owners[address] = group;
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

        void Check(string key, string? value, string example)
        {
            if (!IPEndPoint.TryParse(value ?? "", out var ep) || ep.Port == 0)
            {
                failures.Add($"{key} = '{value}': must be ip:port with a non-zero port, e.g. {example}");
            }
        }
    }
}
