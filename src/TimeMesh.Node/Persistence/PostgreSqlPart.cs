using System.Reflection;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Persistence;

/// <summary>
/// The PostgreSQL drift store lives in the package TimeMesh.Persistence.PostgreSql (it brings Npgsql, which
/// Akka.Persistence.Sql loads for a PostgreSQL journal), so that an embed that keeps no state in PostgreSQL does not
/// carry it. Loaded by name when the config asks for it; a config that asks without it fails when it is read,
/// naming the key and the package.
/// </summary>
internal static class PostgreSqlPart
{
    public const string PackageId = "TimeMesh.Persistence.PostgreSql";
    private const string TypeName = "TimeMesh.Persistence.PostgreSql.PostgreSqlConnectionStrings";

    private static readonly Lazy<Func<string, string?>?> HostOfMethod = new(() => Load(PackageId));

    /// <summary>Throws a <see cref="TimeMeshConfigException"/> on <paramref name="key"/> when the package is absent.</summary>
    public static void Require(string key, string value)
    {
        if (HostOfMethod.Value is null) throw Missing(key, value, PackageId);
    }

    internal static TimeMeshConfigException Missing(string key, string value, string packageId) =>
        new(key, value, $"PostgreSQL needs the package {packageId}, which this application does not carry: add it (dotnet add package {packageId}; "
            + "the timemesh tool and the .deb carry it), or keep the drift state in SQLite (provider = sqlite)");

    /// <summary>The host of an Npgsql connection string (after <see cref="Require"/>); Npgsql's exception when it cannot read it.</summary>
    public static string? HostOf(string connection)
    {
        var hostOf = HostOfMethod.Value ?? throw new InvalidOperationException($"{PackageId} is not loaded");
        try
        {
            return hostOf(connection);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    /// <summary>The HostOf method of the named assembly; null when the application does not carry it.</summary>
    internal static Func<string, string?>? Load(string assemblyName)
    {
        if (OptionalParts.TryLoad(assemblyName) is not { } assembly) return null;
        var method = assembly.GetType(TypeName, throwOnError: true)!.GetMethod("HostOf", [typeof(string)])
            ?? throw new MissingMethodException(TypeName, "HostOf");
        return method.CreateDelegate<Func<string, string?>>();
    }
}
