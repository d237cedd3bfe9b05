using Npgsql;

namespace TimeMesh.Persistence.PostgreSql;

/// <summary>
/// What TimeMesh.Node asks of this assembly when <c>timemesh.persistence.provider = postgresql</c>; found by name
/// (TimeMesh.Node does not reference Npgsql), so its name and signature are a contract with
/// <c>TimeMesh.Node.Persistence.PostgreSqlPart</c>.
/// </summary>
public static class PostgreSqlConnectionStrings
{
    /// <summary>
    /// The host an Npgsql connection string names (null or blank when it names none). A string Npgsql cannot read
    /// throws <see cref="ArgumentException"/> (or the <see cref="FormatException"/>, <see cref="InvalidOperationException"/>
    /// or <see cref="KeyNotFoundException"/> Npgsql gives).
    /// </summary>
    /// <param name="connectionString">The configured connection string.</param>
    public static string? HostOf(string connectionString) => new NpgsqlConnectionStringBuilder(connectionString).Host;
}
