using System.Net;

namespace HaKit;

/// <summary>Witness settings (<see cref="ArbiterMode.Witness"/>).</summary>
public sealed class WitnessArbiterOptions
{
    /// <summary>The witness's UDP endpoint, <c>ip:port</c> (for example <c>10.0.0.9:5405</c>). <value>Required in Witness mode.</value></summary>
    public string Endpoint { get; set; } = "";

    /// <summary>The witness's name: the sender name in its signed replies (its <c>HaKit:Witness:Name</c>); must differ from every node name. <value>Default <c>witness</c>.</value></summary>
    public string Name { get; set; } = "witness";

    /// <summary>Local address to send witness requests from (<c>ip</c> or <c>ip:port</c>). <value>Default: any address, an ephemeral port.</value></summary>
    public string LocalAddress { get; set; } = "";

    /// <summary>How long a vote waits for the peer's and the witness's answers before it counts the missing ones as unknown. <value>Default 250 ms.</value></summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Checks the witness settings against the lease they serve (<paramref name="leaseTtl"/>) and the node names.</summary>
    internal void Validate(OptionsPath path, TimeSpan leaseTtl, IReadOnlySet<string> nodeNames)
    {
        if (!IPEndPoint.TryParse(Endpoint ?? "", out var endpoint) || endpoint.Port == 0)
        {
            path.Error(nameof(Endpoint), Endpoint, "must be the witness's UDP endpoint as ip:port, e.g. 10.0.0.9:5405");
        }

        if (string.IsNullOrWhiteSpace(Name))
        {
            path.Error(nameof(Name), Name, "set the witness's name (its HaKit:Witness:Name), e.g. witness");
        }
        else if (nodeNames.Contains(Name))
        {
            path.Error(nameof(Name), Name, $"must differ from every node name in {path.Absolute(nameof(HaKitOptions.Nodes))}");
        }

        if (!string.IsNullOrEmpty(LocalAddress) && !IPEndPoint.TryParse(LocalAddress, out _))
        {
            path.Error(nameof(LocalAddress), LocalAddress, "must be an ip or ip:port of this machine, e.g. 10.0.0.1, or empty for any");
        }

        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout >= leaseTtl / ArbiterOptions.RenewalsPerLease)
        {
            path.Error(nameof(RequestTimeout), RequestTimeout, $"must be positive and less than a third of Arbiter:LeaseTtl ({leaseTtl}) so that a renewal can be asked again before the lease runs out; 100 to 500 ms is usual");
        }
    }
}
