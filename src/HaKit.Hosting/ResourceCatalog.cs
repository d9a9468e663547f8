using HaKit.Resources;

namespace HaKit.Hosting;

/// <summary>
/// Creates the registered resources once (validation and the node share the same instances) and matches them with the
/// configured groups: every group needs a resource, every name listed in <see cref="GroupOptions.Resources"/> must be registered,
/// and every registration must belong to a configured group.
/// </summary>
internal sealed class ResourceCatalog(HaKitRegistry registry, IServiceProvider services)
{
    private readonly Lock _lock = new();
    private Created[]? _created;

    /// <summary>The resources per configured group in start order, and every problem found (empty when the node can be built).</summary>
    public ResolvedResources Resolve(HaKitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var created = CreateAll();
        var errors = new List<string>();
        var byGroup = new Dictionary<string, IReadOnlyList<IResource>>(StringComparer.Ordinal);
        var section = registry.SectionName;

        for (var i = 0; i < options.Groups.Count; i++)
        {
            var g = options.Groups[i];
            var key = $"{section}:Groups:{i}:Resources";
            var mine = created.Where(c => string.Equals(c.Registration.Group, g.Name, StringComparison.Ordinal)).ToList();
            foreach (var failed in mine.Where(c => c.Error is not null))
            {
                errors.Add($"{key} = ({failed.Registration.Description}): a resource registered for group {g.Name} could not be created: {failed.Error}; fix the resource's registration or its dependencies");
            }

            var resources = mine.Where(c => c.Instance is not null).Select(c => c.Instance!).ToList();
            if (mine.Count == 0)
            {
                errors.Add(ResourceValidation.NoResources(key, g.Name, $"AddResource<T>(\"{g.Name}\")"));
                continue;
            }

            errors.AddRange(ResourceValidation.DuplicateNames(key, g.Name, resources));

            if (g.Resources.Count == 0)
            {
                byGroup[g.Name] = resources;
                continue;
            }

            var registered = resources.Select(r => r.Name).ToList();
            var ordered = new List<IResource>();
            for (var r = 0; r < g.Resources.Count; r++)
            {
                var name = g.Resources[r];
                var match = resources.FirstOrDefault(x => string.Equals(x.Name, name, StringComparison.Ordinal));
                if (match is null)
                {
                    errors.Add($"{key}:{r} = '{name}': no resource named {name} is registered for group {g.Name} (registered: {Describe(registered)}); register it with AddResource<T>(\"{g.Name}\") or correct the name");
                }
                else
                {
                    ordered.Add(match);
                }
            }

            foreach (var unlisted in registered.Where(n => !g.Resources.Contains(n, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal))
            {
                errors.Add($"{key} = '{string.Join(", ", g.Resources)}': resource {unlisted} is registered for group {g.Name} but not listed; add it to {key} (the list sets the start order) or remove its registration");
            }

            byGroup[g.Name] = ordered;
        }

        errors.AddRange(ResourceValidation.Unconfigured(section, options, created.Select(c => c.Registration.Group), group => $"AddResource(\"{group}\")"));

        return new ResolvedResources(byGroup, errors);
    }

    private static string Describe(List<string> names) => names.Count == 0 ? "none" : string.Join(", ", names);

    private Created[] CreateAll()
    {
        lock (_lock)
        {
            return _created ??= registry.Resources.Select(Create).ToArray();
        }
    }

    private Created Create(ResourceRegistration registration)
    {
        try
        {
            var instance = registration.Factory(services);
            if (instance is null)
            {
                return new Created(registration, null, "the factory returned null");
            }

            if (string.IsNullOrWhiteSpace(instance.Name))
            {
                return new Created(registration, null, $"{instance.GetType().Name}.Name is empty; every resource needs a name unique within its group");
            }

            return new Created(registration, instance, null);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return new Created(registration, null, $"{ex.GetType().Name}: {ex.Message}");
        }
    }

    private sealed record Created(ResourceRegistration Registration, IResource? Instance, string? Error);
}

/// <summary>The resources per configured group, in start order, and the problems found.</summary>
/// <param name="ByGroup">Resources per group name.</param>
/// <param name="Errors">One line per problem (key, value, fix).</param>
internal sealed record ResolvedResources(IReadOnlyDictionary<string, IReadOnlyList<IResource>> ByGroup, IReadOnlyList<string> Errors);
