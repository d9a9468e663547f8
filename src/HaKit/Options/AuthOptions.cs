namespace HaKit;

/// <summary>One shared key (<c>authkeys</c> line): an id and a secret.</summary>
public sealed class AuthKeyOptions
{
    /// <summary>Lowest allowed <see cref="Id"/> (0 means "no key").</summary>
    public const uint IdMin = 1;

    /// <summary>Fewest bytes a <see cref="Secret"/> must decode to (the HMAC-SHA256 output size).</summary>
    public const int SecretMinBytes = 32;

    /// <summary>Key id carried in every packet. <value>Range <see cref="IdMin"/>..4294967295 (<see cref="uint.MaxValue"/>).</value></summary>
    public uint Id { get; set; }

    /// <summary>The secret, base64-encoded; at least <see cref="SecretMinBytes"/> bytes once decoded (<c>openssl rand -base64 32</c>).</summary>
    public string Secret { get; set; } = "";

    /// <summary>Checks this key; adds its id to <paramref name="ids"/> (reporting a duplicate). The secret is never shown.</summary>
    internal void Validate(OptionsPath path, HashSet<uint> ids)
    {
        if (Id < IdMin)
        {
            path.Error(nameof(Id), Id, $"key ids start at {IdMin}");
        }
        else if (!ids.Add(Id))
        {
            path.Error(nameof(Id), Id, "the key id is listed twice; ids must be unique");
        }

        var bytes = new byte[Math.Max(1, Secret.Length)];
        if (!Convert.TryFromBase64String(Secret, bytes, out var length))
        {
            path.Error(nameof(Secret), OptionsPath.Described($"({Secret.Length} characters, not shown)"), "must be base64, e.g. the output of openssl rand -base64 32");
        }
        else if (length < SecretMinBytes)
        {
            path.Error(nameof(Secret), OptionsPath.Described($"({length} bytes, not shown)"), $"must decode to at least {SecretMinBytes} bytes; generate one with openssl rand -base64 32");
        }
    }
}

/// <summary>Packet authentication: HMAC-SHA256 with key ids, so keys can be rotated without downtime.</summary>
public sealed class AuthOptions
{
    /// <summary>Accepted keys. Several may be accepted at once during a rotation.</summary>
    public List<AuthKeyOptions> Keys { get; set; } = [];

    /// <summary>The key id used to sign outgoing packets; must be one of <see cref="Keys"/>.</summary>
    public uint SendKeyId { get; set; }

    /// <summary>Checks the keys and the send key.</summary>
    internal void Validate(OptionsPath path)
    {
        if (Keys.Count == 0)
        {
            path.Error(nameof(Keys), OptionsPath.Described("(none)"), $"configure at least one key: {{ \"Id\": 1, \"Secret\": \"<base64 of {AuthKeyOptions.SecretMinBytes}+ random bytes, e.g. from openssl rand -base64 32>\" }}");
        }

        var ids = new HashSet<uint>();
        for (var i = 0; i < Keys.Count; i++)
        {
            Keys[i].Validate(path[nameof(Keys)][i], ids);
        }

        if (Keys.Count > 0 && !ids.Contains(SendKeyId))
        {
            path.Error(nameof(SendKeyId), SendKeyId, $"must be the id of one of {path[nameof(Keys)]} ({string.Join(", ", ids)})");
        }
    }
}
