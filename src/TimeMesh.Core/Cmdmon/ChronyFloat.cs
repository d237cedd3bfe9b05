namespace TimeMesh.Core.Cmdmon;

/// <summary>
/// chrony's 32-bit number format on the command protocol: a 7-bit signed exponent above a 25-bit signed
/// coefficient with no hidden bit, value = coefficient · 2^(exponent − 25). Big-endian on the wire.
/// Zero, NaN and magnitudes below 1e-100 encode as 0; magnitudes above the range saturate.
/// </summary>
public static class ChronyFloat
{
    private const int ExponentBits = 7;
    private const int CoefficientBits = 32 - ExponentBits;
    private const int ExponentMin = -(1 << (ExponentBits - 1));
    private const int ExponentMax = -ExponentMin - 1;
    private const int CoefficientMax = (1 << (CoefficientBits - 1)) - 1;

    /// <summary>
    /// The value of one word in chrony's format, already read from the wire into <paramref name="raw"/> (see
    /// <see cref="CmdmonWire.ReadFloat"/>). Every word decodes to a finite number; there is no NaN or infinity.
    /// </summary>
    public static double Decode(uint raw)
    {
        int exponent = (int)(raw >> CoefficientBits);
        if (exponent >= 1 << (ExponentBits - 1)) exponent -= 1 << ExponentBits;
        exponent -= CoefficientBits;
        int coefficient = (int)(raw & ((1u << CoefficientBits) - 1));
        if (coefficient >= 1 << (CoefficientBits - 1)) coefficient -= 1 << CoefficientBits;
        return coefficient * Math.Pow(2.0, exponent);
    }

    /// <summary>
    /// The word for <paramref name="value"/>, computed the way chrony computes it (so both round the same):
    /// 25 bits of signed coefficient, rounded to nearest. NaN and magnitudes below 1e-100 give 0, and values too
    /// small for the exponent lose bits down to 0; magnitudes beyond the range (infinities included) saturate at
    /// the largest coefficient and exponent of their sign.
    /// The caller writes the word big-endian (see <see cref="CmdmonWire.WriteFloat"/>).
    /// </summary>
    public static uint Encode(double value)
    {
        bool negative = value < 0;
        double magnitude = negative ? -value : value;
        if (double.IsNaN(magnitude)) magnitude = 0;
        int exponent, coefficient;
        // A negative coefficient reaches one further than a positive one (two's complement).
        int limit = CoefficientMax + (negative ? 1 : 0);
        if (magnitude < 1e-100)
        {
            exponent = coefficient = 0;
        }
        else if (magnitude > 1e100)
        {
            exponent = ExponentMax;
            coefficient = limit;
        }
        else
        {
            // Truncated toward zero after adding 1, as chrony computes it (the rounding of the result depends on it).
            exponent = (int)(Math.Log(magnitude) / Math.Log(2) + 1);
            coefficient = (int)(magnitude * Math.Pow(2.0, -exponent + CoefficientBits) + 0.5);
            while (coefficient > limit)
            {
                coefficient >>= 1;
                exponent++;
            }
            if (exponent > ExponentMax)
            {
                exponent = ExponentMax;
                coefficient = limit;
            }
            else if (exponent < ExponentMin)
            {
                if (exponent + CoefficientBits >= ExponentMin)
                {
                    coefficient >>= ExponentMin - exponent;
                    exponent = ExponentMin;
                }
                else
                {
                    exponent = coefficient = 0;
                }
            }
        }
        uint bits = (uint)coefficient;
        if (negative) bits = ((uint)-coefficient << ExponentBits) >> ExponentBits;
        return ((uint)exponent << CoefficientBits) | bits;
    }
}
