using HaKit.Resources;
using Microsoft.Extensions.DependencyInjection;

namespace HaKit.Hosting;

/// <summary>
/// Creates the registered resources once (validation and the node share the same instances) and matches them with the
/// configured groups: every group needs a resource, every name listed in <see cref="GroupOptions.Resources"/> must be registered,
/// and every registration must belong to a configured group.
/// </summary>
internal sealed class ResourceCatalog(HaKitRegistry registry, IServiceProvider services)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Group, string Name), (IResource? Instance, string? Error)> _configured = [];
    private Created[]? _created;

    /// <summary>The resources per configured group in start order, and every problem found (empty when the node can be built).</summary>
    /// <summary>The resources of the last <see cref="Resolve"/> (the node's; the admin API's <c>takeover --force</c> reaches them).</summary>
    public ResolvedResources? Resolved { get; private set; }

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
            if (mine.Count == 0 && g.Resources.Count == 0)
            {
                errors.Add(ResourceValidation.NoResources(key, g.Name, $"AddResource<T>(\"{g.Name}\") or by listing a resource of {section}:Resources"));
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
                var match = resources.FirstOrDefault(x => string.Equals(x.Name, name, StringComparison.Ordinal))
                    ?? Configured(options, g.Name, $"{key}:{r}", name, errors);
                if (match is null)
                {
                    if (!options.Resources.Any(x => string.Equals(x.Name, name, StringComparison.Ordinal)))
                    {
                        errors.Add($"{key}:{r} = '{name}': no resource named {name} is registered for group {g.Name} (registered: {Describe(registered)}) nor declared in {section}:Resources; register it with AddResource<T>(\"{g.Name}\"), declare it in {section}:Resources or correct the name");
                    }
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

        Resolved = new ResolvedResources(byGroup, errors);
        return Resolved;
    }

    /// <summary>The instance of the <c>HaKit:Resources</c> entry <paramref name="name"/> for <paramref name="group"/> (created once), or null (with an error when the entry exists but cannot be created).</summary>
    private IResource? Configured(HaKitOptions options, string group, string listKey, string name, List<string> errors)
    {
        var index = options.Resources.FindIndex(x => string.Equals(x.Name, name, StringComparison.Ordinal));
        if (index < 0)
        {
            return null;
        }

        var entry = options.Resources[index];
        var entryKey = $"{registry.SectionName}:Resources:{index}";
        if (entry.Type is not { } type)
        {
            return null; // reported by options validation (Type required)
        }

        lock (_lock)
        {
            if (_configured.TryGetValue((group, name), out var cached))
            {
                if (cached.Error is not null)
                {
                    errors.Add(cached.Error);
                }

                return cached.Instance;
            }

            IResource? instance = null;
            string? error = null;
            var factory = services.GetServices<IConfiguredResourceFactory>().FirstOrDefault(f => f.Types.Contains(type));
            if (factory is null)
            {
                error = $"{entryKey}:Type = {type}: resource {name} (listed in {listKey}) needs the HaKit.Linux package; reference it and call .UseLinuxResources() on AddHaKit() (or register an IConfiguredResourceFactory for {type})";
            }
            else
            {
                try
                {
                    instance = factory.Create(entry, options, services);
                    if (!string.Equals(instance?.Name, name, StringComparison.Ordinal))
                    {
                        error = $"{entryKey}:Name = '{name}': the {type} factory made a resource named '{instance?.Name}'; it must keep the configured name";
                        instance = null;
                    }
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    error = $"{entryKey} = ({type} {name}): could not be created: {ex.Message}; fix the entry";
                }
            }

            _configured[(group, name)] = (instance, error);
            if (error is not null)
            {
                errors.Add(error);
            }

            return instance;
        }
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
