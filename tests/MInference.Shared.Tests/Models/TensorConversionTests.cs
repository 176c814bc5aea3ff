using System.Runtime.InteropServices;
using MInference.Shared.Models;

namespace MInference.Shared.Tests.Models;

public class TensorConversionTests
{
    /// <summary>The vectorised bf16 → f32 path equals the definition (bits &lt;&lt; 16) for lengths around the vector width, NaN-poisoned output.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(1000)]
    public void BFloat16_to_float32_matches_the_bit_definition(int length)
    {
        var random = new Random(length);
        var source = new ushort[length];
        for (var i = 0; i < length; i++)
        {
            source[i] = (ushort)random.Next(0, 65536);
        }

        var destination = new float[length];
        Array.Fill(destination, float.NaN);

        TensorConversion.BFloat16ToFloat32(source, destination);

        for (var i = 0; i < length; i++)
        {
            Assert.Equal((uint)source[i] << 16, BitConverter.SingleToUInt32Bits(destination[i]));
        }
    }

    /// <summary>f16 bytes convert to the same values as System.Half.</summary>
    [Fact]
    public void Float16_to_float32_matches_half()
    {
        var values = new[] { (Half)0.5f, (Half)(-3.25f), Half.MaxValue, Half.Epsilon };
        var destination = new float[values.Length];
        Array.Fill(destination, float.NaN);

        TensorConversion.ToFloat32(TensorDType.Float16, MemoryMarshal.AsBytes(values.AsSpan()), destination);

        Assert.Equal(values.Select(v => (float)v), destination);
    }

    /// <summary>f32 → bf16 rounds to nearest, ties to even, and keeps NaN a NaN.</summary>
    [Fact]
    public void Float32_to_bfloat16_rounds_to_nearest_even()
    {
        Assert.Equal(0x3F80, TensorConversion.Float32ToBFloat16(1f));
        Assert.Equal(0x3F80, TensorConversion.Float32ToBFloat16(BitConverter.UInt32BitsToSingle(0x3F80_8000))); // tie → even (0x3F80)
        Assert.Equal(0x3F82, TensorConversion.Float32ToBFloat16(BitConverter.UInt32BitsToSingle(0x3F81_8000))); // tie → even (0x3F82)
        Assert.Equal(0x3F81, TensorConversion.Float32ToBFloat16(BitConverter.UInt32BitsToSingle(0x3F80_8001))); // above tie → up
        Assert.True(float.IsNaN(BitConverter.UInt32BitsToSingle((uint)TensorConversion.Float32ToBFloat16(float.NaN) << 16)));
    }

    /// <summary>A destination whose length does not match the source's element count is refused.</summary>
    [Fact]
    public void Length_mismatch_is_refused()
    {
        Assert.Throws<ArgumentException>(() => TensorConversion.ToFloat32(TensorDType.BFloat16, new byte[6], new float[2]));
    }
}
