namespace HaKit.Resources;

/// <summary>
/// Checks resources against the configured groups, for <see cref="ClusterNode"/> and the hosting layer alike: every group has a
/// resource, names are unique within a group, and no resources belong to a group that is not configured. Each message names the key,
/// the value and the fix.
/// </summary>
public static class ResourceValidation
{
    /// <summary>The problems of the resources handed to a <see cref="ClusterNode"/> (empty when there are none).</summary>
    /// <param name="options">The node's options.</param>
    /// <param name="resources">Resources per group name.</param>
    /// <returns>One message per problem, naming the key, the value and the fix.</returns>
    public static List<string> Check(HaKitOptions options, IReadOnlyDictionary<string, IReadOnlyList<IResource>> resources)
    {
        const string section = HaKitOptionsValidator.Section;
        var errors = new List<string>();
        for (var i = 0; i < options.Groups.Count; i++)
        {
            var g = options.Groups[i];
            var key = $"{section}:Groups:{i}:Resources";
            if (!resources.TryGetValue(g.Name, out var list) || list.Count == 0)
            {
                errors.Add(NoResources(key, g.Name, $"resources[\"{g.Name}\"] of the ClusterNode"));
                continue;
            }

            errors.AddRange(DuplicateNames(key, g.Name, list));
        }

        errors.AddRange(Unconfigured(section, options, resources.Keys, group => $"resources[\"{group}\"] of the ClusterNode"));
        return errors;
    }

    /// <summary>A group without resources.</summary>
    /// <param name="key">The group's resources key (<c>HaKit:Groups:i:Resources</c>).</param>
    /// <param name="group">The group.</param>
    /// <param name="howToRegister">How the caller registers a resource for it.</param>
    public static string NoResources(string key, string group, string howToRegister) =>
        $"{key} = (none): group {group} has no resources; register one with {howToRegister}";

    /// <summary>One message per name used by more than one resource of a group.</summary>
    /// <param name="key">The group's resources key.</param>
    /// <param name="group">The group.</param>
    /// <param name="resources">The group's resources.</param>
    public static IEnumerable<string> DuplicateNames(string key, string group, IReadOnlyList<IResource> resources) =>
        resources.GroupBy(r => r.Name, StringComparer.Ordinal).Where(d => d.Count() > 1).Select(duplicate =>
            $"{key} = '{string.Join(", ", resources.Select(r => r.Name))}': {duplicate.Count()} resources registered for group {group} are named {duplicate.Key}; resource names must be unique within a group");

    /// <summary>One message per group that has resources but is not configured.</summary>
    /// <param name="section">The configuration section (<c>HaKit</c>).</param>
    /// <param name="options">The options.</param>
    /// <param name="groups">The groups resources were registered for (repeats allowed).</param>
    /// <param name="registration">How the resources of a group were registered (for the message).</param>
    public static IEnumerable<string> Unconfigured(string section, HaKitOptions options, IEnumerable<string> groups, Func<string, string> registration)
    {
        var configured = new HashSet<string>(options.Groups.Select(g => g.Name), StringComparer.Ordinal);
        return groups.Where(n => !configured.Contains(n)).Distinct(StringComparer.Ordinal).Select(group =>
            $"{section}:Groups = '{string.Join(", ", configured)}': resources are registered for group {group} ({registration(group)}), which is not configured; add a group named {group} to {section}:Groups or remove the registration");
    }
}
