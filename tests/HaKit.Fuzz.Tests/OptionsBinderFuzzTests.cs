using System.Reflection;
using CsCheck;
using HaKit.Hosting;
using Microsoft.Extensions.Configuration;

namespace HaKit.Fuzz.Tests;

/// <summary>
/// The configuration binder and validation (<see cref="HaKitOptionsBinder"/>, <see cref="HaKitOptionsValidator"/>) on random key/value
/// trees built from the real setting names (found by reflection), misspelt and unknown names, list indices and hostile values. Binding
/// and validation either succeed or report errors that name a key under the section; they never throw.
/// </summary>
[TestFixture]
public sealed class OptionsBinderFuzzTests
{
    private const string Section = "HaKit";

    private static readonly string[] Paths = [.. CollectPaths(typeof(HaKitOptions), Section, depth: 0)];

    private static readonly string[] Values =
    [
        "", " ", "0", "1", "-1", "2", "3", "694", "65535", "65536", "2147483648", "4294967296", "18446744073709551616", "-9223372036854775809",
        "1e3", "NaN", "0x10", "00:00:00", "00:00:00.001", "00:00:01", "-00:00:01", "1.00:00:00", "10675199.02:48:05.4775808", "99:99:99",
        "true", "FALSE", "yes", "Fast", "Default", "Slow", "Witness", "Etcd", "TwoNode", "None", "Unicast", "Multicast", "Quorum", "Nonsense",
        "127.0.0.1", "127.0.0.1:694", "[::1]:5405", "::1", "239.0.0.1", "255.255.255.255:0", "0.0.0.0:99999", "a", "b", "node-a", "web",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "not base64!", "/tmp", "../../etc/passwd", "é\u0000\u202e", new string('x', 300),
    ];

    private static Gen<string> KeyGen { get; } = Gen.Frequency(
        (8, Gen.Int[0, Paths.Length - 1].Select(i => Paths[i])),
        (1, Gen.Select(Gen.Int[0, Paths.Length - 1], Gen.String[1, 6]).Select((i, junk) => Paths[i] + ":" + junk)),
        (1, Gen.Select(Gen.Int[0, Paths.Length - 1], Gen.Int[0, 3]).Select((i, cut) => string.Join(':', Paths[i].Split(':').SkipLast(cut).Append("0")))),
        (1, Gen.String[1, 10].Select(junk => Section + ":" + junk)));

    private static Gen<string?> ValueGen { get; } = Gen.Frequency(
        (8, Gen.Int[0, Values.Length - 1].Select(i => (string?)Values[i])),
        (2, Gen.String[0, 20].Select(s => (string?)s)),
        (1, Gen.Const((string?)null)));

    [Test]
    public void Random_configuration_trees_bind_and_validate_or_report_errors_naming_keys()
    {
        var gen = Gen.Select(KeyGen, ValueGen).Array[0, 14];
        Fuzz.Run("options/binder", gen, pairs =>
        {
            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var (key, value) in pairs)
            {
                data[key] = value;
            }

            var configuration = new ConfigurationBuilder().AddInMemoryCollection(data).Build();
            var options = new HaKitOptions();
            HaKitOptionsBinder.Bind(options, configuration, Section);
            var errors = HaKitOptionsBinder.ErrorsOf(options).Concat(HaKitOptionsValidator.Validate(options, Section)).ToList();
            foreach (var error in errors)
            {
                Assert.That(error, Does.Contain(Section + ":").Or.Contain(Section + "."), "an error names its key");
            }
        }, ciDefault: 3_000, print: pairs => string.Join("; ", pairs.Select(p => $"{p.Item1}={p.Item2 ?? "(null)"}")));
    }

    [Test]
    public void The_setting_names_come_from_the_options_type() =>
        Assert.That(Paths, Does.Contain("HaKit:NodeName").And.Contain("HaKit:Nodes:0:Name").And.Contain("HaKit:Timing:Interval"));

    private static IEnumerable<string> CollectPaths(Type type, string prefix, int depth)
    {
        if (depth > 4)
        {
            yield break;
        }

        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(HaKitOptionsBinder.IsBindable))
        {
            var path = prefix + ":" + p.Name;
            foreach (var leaf in Expand(p.PropertyType, path, depth))
            {
                yield return leaf;
            }
        }
    }

    private static IEnumerable<string> Expand(Type type, string path, int depth)
    {
        if (HaKitOptionsBinder.IsScalar(type))
        {
            return [path];
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var element = type.GetGenericArguments()[0];
            return new[] { "0", "1", "2" }.SelectMany(i => Expand(element, path + ":" + i, depth + 1));
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            var element = type.GetGenericArguments()[1];
            return new[] { "web", "db" }.SelectMany(k => Expand(element, path + ":" + k, depth + 1));
        }

        return type.IsClass ? CollectPaths(type, path, depth + 1) : [path];
    }
}
