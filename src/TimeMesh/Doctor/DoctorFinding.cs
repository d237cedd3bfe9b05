using System.Text;
using System.Text.Json;

namespace TimeMesh.Cli.Doctor;

public enum DoctorLevel
{
    Ok,
    Warn,
    Fail,
}

/// <summary>One thing <c>timemesh doctor</c> found: what, how bad, and what to do about it.</summary>
public sealed record DoctorFinding(string Check, DoctorLevel Level, string Message, string? Fix = null)
{
    public static DoctorFinding Ok(string check, string message) => new(check, DoctorLevel.Ok, message);
    public static DoctorFinding Warn(string check, string message, string fix) => new(check, DoctorLevel.Warn, message, fix);
    public static DoctorFinding Fail(string check, string message, string fix) => new(check, DoctorLevel.Fail, message, fix);

    /// <summary>One line: level, check, message and the fix hint, so grep and people read the same thing.</summary>
    public string ToLine()
    {
        string level = Level switch { DoctorLevel.Ok => "ok", DoctorLevel.Warn => "warn", _ => "fail" };
        return Fix is null ? $"{level,-4}  {Check}: {Message}" : $"{level,-4}  {Check}: {Message}; fix: {Fix}";
    }
}

/// <summary>All findings of one doctor run, rendered as text or JSON.</summary>
public sealed record DoctorReport(IReadOnlyList<DoctorFinding> Findings)
{
    public int Failures => Findings.Count(f => f.Level == DoctorLevel.Fail);
    public int Warnings => Findings.Count(f => f.Level == DoctorLevel.Warn);

    /// <summary>0 when nothing failed (warnings do not fail the run), 1 otherwise.</summary>
    public int ExitCode => Failures == 0 ? 0 : 1;

    public string ToText()
    {
        var text = new StringBuilder();
        foreach (var f in Findings) text.Append(f.ToLine()).Append('\n');
        text.Append($"{Failures} failed, {Warnings} warnings, {Findings.Count - Failures - Warnings} ok\n");
        return text.ToString();
    }

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("failures", Failures);
            json.WriteNumber("warnings", Warnings);
            json.WriteStartArray("findings");
            foreach (var f in Findings)
            {
                json.WriteStartObject();
                json.WriteString("check", f.Check);
                json.WriteString("level", f.Level.ToString().ToLowerInvariant());
                json.WriteString("message", f.Message);
                if (f.Fix is null) json.WriteNull("fix");
                else json.WriteString("fix", f.Fix);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
