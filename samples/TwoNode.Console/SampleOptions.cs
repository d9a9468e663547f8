using System.Net;
using Microsoft.Extensions.Options;

namespace TwoNode;

/// <summary>The sample's own settings (section <c>Sample</c>).</summary>
public sealed class SampleOptions
{
    /// <summary>The shared service address the owner of group <c>web</c> binds (a stand-in for a virtual IP).</summary>
    public string HttpAddress { get; set; } = "127.0.0.1:8080";

    /// <summary>The parsed <see cref="HttpAddress"/>.</summary>
    public IPEndPoint Endpoint => IPEndPoint.Parse(HttpAddress);
}

/// <summary>Validates <see cref="SampleOptions"/> at start-up.</summary>
public sealed class SampleOptionsValidation : IValidateOptions<SampleOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SampleOptions options) =>
        IPEndPoint.TryParse(options.HttpAddress ?? "", out var ep) && ep.Port != 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"Sample:HttpAddress = '{options.HttpAddress}': must be ip:port with a non-zero port, e.g. 127.0.0.1:8080");
}
