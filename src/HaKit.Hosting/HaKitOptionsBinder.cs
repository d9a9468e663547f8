using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Configuration;

namespace HaKit.Hosting;

/// <summary>
/// Binds <see cref="HaKitOptions"/> from a configuration section; <c>Preset</c> supplies every timing value the section does not set.
/// Values are checked before binding, so a value that does not convert or a misspelt key becomes a validation error
/// naming the key (instead of an exception from the binder, or a silently ignored setting).
/// </summary>
internal static class HaKitOptionsBinder
{
    /// <summary>
    /// Sections under <c>HaKit</c> that belong to an extension package, which binds and validates them itself
    /// (<c>Replication</c>: HaKit.Replication's <c>UseReplication()</c>). They are not settings of <see cref="HaKitOptions"/>.
    /// </summary>
    internal static readonly IReadOnlySet<string> ExtensionSections = new HashSet<string>(["Replication"], StringComparer.OrdinalIgnoreCase);

    private static readonly ConditionalWeakTable<HaKitOptions, List<string>> BindingErrors = new();

    /// <summary>Problems found while binding <paramref name="options"/> (empty when it was not bound or bound cleanly).</summary>
    public static IReadOnlyList<string> ErrorsOf(HaKitOptions options) =>
        BindingErrors.TryGetValue(options, out var errors) ? errors : [];

    /// <summary>Binds the section's values that convert; the others are kept for <see cref="ErrorsOf"/>.</summary>
    public static void Bind(HaKitOptions options, IConfiguration configuration, string sectionName)
    {
        var section = configuration.GetSection(sectionName);
        var errors = new List<string>();
        var bad = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        new Walker(section.Path, errors, bad, true).Check(section, typeof(HaKitOptions));

        // Bind only the values that convert; the others are reported by validation with their key.
        var good = section.AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null && !bad.Contains(kv.Key) && !ExtensionSections.Contains(kv.Key.Split(ConfigurationPath.KeyDelimiter)[0]))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);
        // The preset binds like any value: HaKitOptions.Timing reads every value the section does not set from it.
        new ConfigurationBuilder().AddInMemoryCollection(good).Build().Bind(options);
        if (errors.Count > 0)
        {
            BindingErrors.AddOrUpdate(options, errors);
        }
    }

    /// <summary>
    /// Binds an extension package's section (for example <c>HaKit:Replication</c>) onto <paramref name="options"/> the same way:
    /// values that do not convert and unknown keys are returned as errors naming the key (and not bound).
    /// </summary>
    /// <typeparam name="T">The options type.</typeparam>
    /// <param name="options">The instance to bind onto.</param>
    /// <param name="section">The section.</param>
    /// <returns>The problems found (empty when the section bound cleanly).</returns>
    internal static List<string> BindSection<T>(T options, IConfigurationSection section)
        where T : class
    {
        var errors = new List<string>();
        var bad = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        new Walker(section.Path, errors, bad, false).Check(section, typeof(T));
        var good = section.AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null && !bad.Contains(kv.Key))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);
        new ConfigurationBuilder().AddInMemoryCollection(good).Build().Bind(options);
        return errors;
    }

    /// <summary>Walks a configuration section against the options' type tree.</summary>
    private sealed class Walker(string root, List<string> errors, HashSet<string> bad, bool skipExtensions)
    {
        public void Check(IConfigurationSection section, Type type)
        {
            foreach (var child in section.GetChildren())
            {
                if (skipExtensions && string.Equals(section.Path, root, StringComparison.OrdinalIgnoreCase) && ExtensionSections.Contains(child.Key))
                {
                    continue;
                }

                var property = type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
                if (property is null || !HaKitOptionsBinder.IsBindable(property))
                {
                    var known = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(HaKitOptionsBinder.IsBindable).Select(p => p.Name);
                    errors.Add($"{child.Path} = {HaKitOptionsBinder.Show(child)}: unknown setting; known settings in {section.Path}: {string.Join(", ", known)}");
                    continue;
                }

                CheckValue(child, property.PropertyType);
            }
        }

        private void CheckValue(IConfigurationSection section, Type type)
        {
            if (HaKitOptionsBinder.IsScalar(type))
            {
                CheckScalar(section, type);
                return;
            }

            var hasChildren = section.GetChildren().Any();
            if (!hasChildren)
            {
                if (!string.IsNullOrEmpty(section.Value))
                {
                    errors.Add($"{section.Path} = '{section.Value}': expects {HaKitOptionsBinder.Describe(type)}, not a single value");
                    MarkBad(section);
                }

                return;
            }

            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
            {
                var element = type.GetGenericArguments()[0];
                foreach (var item in section.GetChildren())
                {
                    if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    {
                        errors.Add($"{item.Path} = {HaKitOptionsBinder.Show(item)}: list entries are numbered from 0 (e.g. {section.Path}:0)");
                        MarkBad(item);
                        continue;
                    }

                    CheckValue(item, element);
                }
            }
            else if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
            {
                var value = type.GetGenericArguments()[1];
                foreach (var item in section.GetChildren())
                {
                    CheckValue(item, value);
                }
            }
            else
            {
                Check(section, type);
            }
        }

        private void CheckScalar(IConfigurationSection section, Type type)
        {
            if (section.GetChildren().Any())
            {
                errors.Add($"{section.Path} = (a section): expects a single value: {HaKitOptionsBinder.Describe(type)}");
                MarkBad(section);
                return;
            }

            var value = section.Value;
            var underlying = Nullable.GetUnderlyingType(type);
            if (value is null || type == typeof(string) || (value.Length == 0 && underlying is not null))
            {
                return;
            }

            var target = underlying ?? type;
            object? converted = null;
            try
            {
                converted = value.Length == 0 ? null : TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException or NotSupportedException)
            {
            }

            if (converted is null || (target.IsEnum && !Enum.IsDefined(target, converted)))
            {
                errors.Add($"{section.Path} = '{value}': expects {HaKitOptionsBinder.Describe(target)}");
                bad.Add(RelativeKey(section));
            }
        }

        private void MarkBad(IConfigurationSection section)
        {
            bad.Add(RelativeKey(section));
            foreach (var (key, _) in section.AsEnumerable(makePathsRelative: true))
            {
                if (key.Length > 0)
                {
                    bad.Add(RelativeKey(section) + ConfigurationPath.KeyDelimiter + key);
                }
            }
        }

        /// <summary>The key relative to the bound section.</summary>
        private string RelativeKey(IConfigurationSection section)
        {
            var path = section.Path;
            return path.StartsWith(root + ConfigurationPath.KeyDelimiter, StringComparison.OrdinalIgnoreCase) ? path[(root.Length + 1)..] : path;
        }
    }

    internal static bool IsBindable(PropertyInfo p) =>
        p.GetIndexParameters().Length == 0 && p.SetMethod is { IsPublic: true };

    internal static bool IsScalar(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(TimeSpan) || t == typeof(decimal);
    }

    internal static string Show(IConfigurationSection section) =>
        section.Value is { } v ? $"'{v}'" : "(a section)";

    internal static string Describe(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t.IsEnum)
        {
            return "one of: " + string.Join(", ", Enum.GetNames(t));
        }

        if (t == typeof(TimeSpan))
        {
            return "a duration [d.]hh:mm:ss[.fffffff], e.g. 00:00:00.800 for 800 ms or 00:00:05 for 5 s";
        }

        if (t == typeof(bool))
        {
            return "true or false";
        }

        if (t == typeof(int) || t == typeof(long))
        {
            return "a whole number";
        }

        if (t == typeof(uint) || t == typeof(ulong))
        {
            return "a whole number, 0 or more";
        }

        if (t == typeof(double) || t == typeof(float) || t == typeof(decimal))
        {
            return "a number (with a '.' as decimal point)";
        }

        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>))
        {
            return "a list (Key:0, Key:1, ... or a JSON array)";
        }

        return t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>)
            ? "a set of named values (Key:name = value, or a JSON object)"
            : "a section of settings";
    }
}
