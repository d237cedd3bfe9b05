using System.CommandLine;
using System.Security.Cryptography;
using TimeMesh.Core.Auth;

namespace TimeMesh.Cli.Commands;

/// <summary>
/// <c>timemesh keygen [ID [TYPE [BITS]]]</c>: one random key as a keyfile line, like <c>chronyc keygen</c>
/// (defaults: id 1, SHA1, 160 bits; AES types take their cipher's length whatever BITS says).
/// </summary>
public static class KeygenCommand
{
    public const int MinBits = 80;
    public const int MaxBits = 4096;

    // Every name, without asking the platform's crypto library which it has: that query took 13 ms of every start.
    private static string AllNames => string.Join(", ", Enum.GetValues<MacAlgorithm>().Select(MacAlgorithms.Name));

    public static Command Build()
    {
        var id = new Argument<uint>("id") { Description = "The key id, 1 to 4294967295.", DefaultValueFactory = _ => 1 };
        var type = new Argument<string>("type") { Description = $"The MAC type: {AllNames} (those this platform's crypto library lacks are refused, naming the rest).", DefaultValueFactory = _ => "SHA1" };
        var bits = new Argument<int>("bits") { Description = $"Key length for hash types, {MinBits} to {MaxBits} bits.", DefaultValueFactory = _ => 160 };
        var command = new Command("keygen", "Print a random key in chrony's keyfile format (as chronyc keygen does).") { id, type, bits };
        command.SetAction(parse =>
        {
            if (!TryGenerate(parse.GetValue(id), parse.GetValue(type)!, parse.GetValue(bits), out string? line, out string? error))
            {
                Console.Error.WriteLine($"timemesh keygen: {error}");
                return Cli.ExitConfigError;
            }
            Console.WriteLine(line);
            return Cli.ExitOk;
        });
        return command;
    }

    public static bool TryGenerate(uint id, string typeName, int bits, out string? line, out string? error)
    {
        line = error = null;
        if (id == 0) error = "the key id must be from 1 to 4294967295";
        else if (!MacAlgorithms.TryParse(typeName, out var type) || !MacAlgorithms.IsSupported(type))
            error = $"unknown type '{typeName}'; supported: {MacAlgorithms.SupportedNames}";
        else if (MacAlgorithms.RequiredKeyLength(type) == 0 && bits is < MinBits or > MaxBits)
            error = $"{bits} bits: a key has {MinBits} to {MaxBits} bits";
        else
        {
            int bytes = MacAlgorithms.RequiredKeyLength(type) is > 0 and var fixedLength ? fixedLength : (bits + 7) / 8;
            byte[] value = RandomNumberGenerator.GetBytes(bytes);
            line = KeyFile.FormatLine(id, type, value);
            CryptographicOperations.ZeroMemory(value);
        }
        return error is null;
    }
}
