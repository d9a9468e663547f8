namespace HaKit.Admin;

/// <summary>
/// The two forms of an admin endpoint, parsed in one place for <see cref="AdminChannel"/> and the <c>hakit</c> tool:
/// <c>unix:/abs/path/node.admin.sock</c> (also <c>unix:///abs/path</c>) or <c>https://host:port</c>.
/// </summary>
internal static class AdminEndpointText
{
    /// <summary>Parses <paramref name="endpoint"/>.</summary>
    /// <param name="endpoint">The endpoint text.</param>
    /// <param name="socketPath">The full path of the Unix socket, for the <c>unix:</c> form.</param>
    /// <param name="address">The address, for the <c>https:</c> form.</param>
    /// <param name="error">Why the text is neither form (the caller adds how to name the endpoint).</param>
    /// <returns>Whether the text is one of the two forms.</returns>
    public static bool TryParse(string endpoint, out string? socketPath, out Uri? address, out string? error)
    {
        socketPath = null;
        address = null;
        error = null;
        if (endpoint.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = endpoint["unix:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                path = path[2..]; // unix:///abs/path, the URI form
            }

            if (path.Length == 0)
            {
                error = $"'{endpoint}' names no socket path";
                return false;
            }

            socketPath = Path.GetFullPath(path);
            return true;
        }

        if (Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps && uri.AbsolutePath is "/" or "")
        {
            address = uri;
            return true;
        }

        error = $"'{endpoint}' is neither unix:/path nor https://host:port";
        return false;
    }
}
