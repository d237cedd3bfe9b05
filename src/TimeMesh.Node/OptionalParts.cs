using System.Reflection;

namespace TimeMesh.Node;

/// <summary>
/// The parts of a node that live in packages of their own (TimeMesh.Control, TimeMesh.Nts,
/// TimeMesh.Persistence.PostgreSql, Akka.Management through TimeMesh.Control), loaded by name when the config asks for
/// them, so that an application that uses none of them does not carry them.
/// </summary>
internal static class OptionalParts
{
    /// <summary>The named assembly, or null when the application does not carry it.</summary>
    public static Assembly? TryLoad(string assemblyName)
    {
        try
        {
            return Assembly.Load(new AssemblyName(assemblyName));
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// An instance of <paramref name="typeName"/> (parameterless constructor) from the named assembly as
    /// <typeparamref name="T"/>; null when the application does not carry the assembly. An assembly that is there
    /// without the type, or with a type that is not a <typeparamref name="T"/>, is a build error and throws.
    /// </summary>
    public static T? Create<T>(string assemblyName, string typeName) where T : class
    {
        if (TryLoad(assemblyName) is not { } assembly) return null;
        var type = assembly.GetType(typeName, throwOnError: true)!;
        return Activator.CreateInstance(type) as T
            ?? throw new InvalidOperationException($"{typeName} in {assemblyName} does not implement {typeof(T).Name}");
    }
}
