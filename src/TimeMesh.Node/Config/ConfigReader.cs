using System.Globalization;
using Akka.Configuration;

namespace TimeMesh.Node.Config;

/// <summary>Reads typed values from HOCON, turning every bad value into a <see cref="TimeMeshConfigException"/>.</summary>
internal sealed class ConfigReader(Akka.Configuration.Config root, string displayPrefix = "")
{
    /// <summary>A reader over one element of a list of objects, naming its keys "list[i].key" in errors.</summary>
    public IReadOnlyList<ConfigReader> ObjectList(string key, string allowed)
    {
        if (!root.HasPath(key)) return [];
        var value = root.GetValue(key);
        if (value.IsEmpty) return [];
        if (value.IsString() || value.IsObject())
            throw new TimeMeshConfigException(displayPrefix + key, value.IsObject() ? "{...}" : value.GetString(), "expected a list of objects: " + allowed);
        var items = value.GetArray();
        var readers = new List<ConfigReader>();
        for (int i = 0; i < items.Count; i++)
        {
            if (!items[i].IsObject())
                throw new TimeMeshConfigException($"{displayPrefix}{key}[{i}]", items[i].GetString(), "expected an object: " + allowed);
            readers.Add(new ConfigReader(new Akka.Configuration.Config(new Akka.Configuration.Hocon.HoconRoot(items[i])), $"{displayPrefix}{key}[{i}]."));
        }
        return readers;
    }

    public double Number(string key, double min, double max, double fallback)
    {
        string allowed = $"allowed: a number from {min} to {max}";
        if (!Has(key)) return fallback;
        string raw = RawString(key)!;
        if (!double.TryParse(raw, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value) || value < min || value > max)
            throw new TimeMeshConfigException(displayPrefix + key, raw, allowed);
        return value;
    }

    /// <summary>How errors name a key of this reader ("timemesh.server[0].key").</summary>
    public string DisplayName(string key) => displayPrefix + key;

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
        if (string.IsNullOrWhiteSpace(raw) || IsObject(key)) throw new TimeMeshConfigException(displayPrefix + key, raw, allowed);
        // No path, address or connection string holds a NUL; the file APIs and connection-string builders
        // throw their own exceptions on one (found by tests/fuzz, config target).
        if (raw.Contains('\0')) throw new TimeMeshConfigException(displayPrefix + key, raw.Replace("\0", "\\0"), allowed + " (no NUL characters)");
        return raw;
    }

    public IReadOnlyList<string> StringList(string key, string allowed)
    {
        if (!root.HasPath(key)) return [];
        var value = root.GetValue(key);
        if (value.IsEmpty) return [];
        // Akka's HOCON does not call an empty array an array; a string or an object is what we refuse.
        if (value.IsString() || value.IsObject())
            throw new TimeMeshConfigException(displayPrefix + key, value.IsObject() ? "{...}" : value.GetString(), "expected a list: " + allowed);
        string?[] items;
        try
        {
            items = root.GetStringList(key).ToArray();
        }
        catch (Exception)
        {
            throw new TimeMeshConfigException(displayPrefix + key, RawString(key), "expected a list: " + allowed);
        }
        // An object in the list reads as null (found by tests/fuzz, config target).
        if (items.Any(item => item is null))
            throw new TimeMeshConfigException(displayPrefix + key, "[... {...} ...]", "expected a list of strings: " + allowed);
        return items!;
    }

    public long Integer(string key, long min, long max, long? fallback = null)
    {
        string allowed = $"allowed: a whole number from {min} to {max}";
        if (!Has(key))
        {
            if (fallback is { } f) return f;
            throw new TimeMeshConfigException(displayPrefix + key, null, allowed);
        }
        string raw = RawString(key)!;
        if (!long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) || value < min || value > max)
            throw new TimeMeshConfigException(displayPrefix + key, raw, allowed);
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
            throw new TimeMeshConfigException(displayPrefix + key, raw, allowed);
        }
        if (value is null || value < min || value > max) throw new TimeMeshConfigException(displayPrefix + key, raw, allowed);
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
            _ => throw new TimeMeshConfigException(displayPrefix + key, raw, "allowed: on or off"),
        };
    }

    public TimeSpan Duration(string key, TimeSpan min, TimeSpan max)
    {
        string allowed = $"allowed: a duration from {min.TotalSeconds:0.###}s to {max.TotalSeconds:0.###}s (e.g. 500ms, 2s)";
        string raw = String(key, allowed);
        // Akka reads a bare number as milliseconds; "hysteresis = 10" meant seconds more often than not.
        if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double bare) && bare != 0)
            throw new TimeMeshConfigException(displayPrefix + key, raw, $"a duration needs a unit: {raw}s or {raw}ms; " + allowed);
        TimeSpan value;
        try
        {
            value = root.GetTimeSpan(key);
        }
        catch (Exception)
        {
            throw new TimeMeshConfigException(displayPrefix + key, raw, allowed);
        }
        if (value < min || value > max) throw new TimeMeshConfigException(displayPrefix + key, raw, allowed);
        return value;
    }
}
