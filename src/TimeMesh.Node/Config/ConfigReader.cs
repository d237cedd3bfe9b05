using System.Globalization;
using Akka.Configuration;

namespace TimeMesh.Node.Config;

/// <summary>Reads typed values from HOCON, turning every bad value into a <see cref="TimeMeshConfigException"/>.</summary>
internal sealed class ConfigReader(Akka.Configuration.Config root)
{
    public bool Has(string key) => root.HasPath(key) && !root.GetValue(key).IsEmpty;

    /// <summary>The key is set, even to an empty object or list.</summary>
    public bool Present(string key) => root.HasPath(key);

    public bool IsObject(string key) => root.HasPath(key) && root.GetValue(key).IsObject();

    public string? RawString(string key)
    {
        if (!Has(key)) return null;
        var value = root.GetValue(key);
        if (value.IsObject()) return "{...}";
        if (value.IsArray()) return "[" + string.Join(", ", value.GetArray().Select(v => v.GetString())) + "]";
        return value.GetString();
    }

    public string String(string key, string allowed)
    {
        string? raw = RawString(key);
        if (string.IsNullOrWhiteSpace(raw) || IsObject(key)) throw new TimeMeshConfigException(key, raw, allowed);
        return raw;
    }

    public IReadOnlyList<string> StringList(string key, string allowed)
    {
        if (!root.HasPath(key)) return [];
        var value = root.GetValue(key);
        if (value.IsEmpty) return [];
        // Akka's HOCON does not call an empty array an array; a string or an object is what we refuse.
        if (value.IsString() || value.IsObject())
            throw new TimeMeshConfigException(key, value.IsObject() ? "{...}" : value.GetString(), "expected a list: " + allowed);
        try
        {
            return root.GetStringList(key).ToArray();
        }
        catch (Exception)
        {
            throw new TimeMeshConfigException(key, RawString(key), "expected a list: " + allowed);
        }
    }

    public long Integer(string key, long min, long max, long? fallback = null)
    {
        string allowed = $"allowed: a whole number from {min} to {max}";
        if (!Has(key))
        {
            if (fallback is { } f) return f;
            throw new TimeMeshConfigException(key, null, allowed);
        }
        string raw = RawString(key)!;
        if (!long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) || value < min || value > max)
            throw new TimeMeshConfigException(key, raw, allowed);
        return value;
    }

    public long Bytes(string key, long min, long max)
    {
        string allowed = $"allowed: a size in bytes from {min} to {max} (suffixes k, m accepted)";
        string raw = String(key, allowed);
        long? value;
        try
        {
            value = root.GetByteSize(key);
        }
        catch (Exception)
        {
            throw new TimeMeshConfigException(key, raw, allowed);
        }
        if (value is null || value < min || value > max) throw new TimeMeshConfigException(key, raw, allowed);
        return value.Value;
    }

    public bool Switch(string key, bool fallback)
    {
        if (!Has(key)) return fallback;
        string raw = RawString(key)!;
        return raw.ToLowerInvariant() switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw new TimeMeshConfigException(key, raw, "allowed: on or off"),
        };
    }

    public TimeSpan Duration(string key, TimeSpan min, TimeSpan max)
    {
        string allowed = $"allowed: a duration from {min.TotalSeconds:0.###}s to {max.TotalSeconds:0.###}s (e.g. 500ms, 2s)";
        string raw = String(key, allowed);
        TimeSpan value;
        try
        {
            value = root.GetTimeSpan(key);
        }
        catch (Exception)
        {
            throw new TimeMeshConfigException(key, raw, allowed);
        }
        if (value < min || value > max) throw new TimeMeshConfigException(key, raw, allowed);
        return value;
    }
}
