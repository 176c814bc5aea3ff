namespace MInference.DataPlane.Tests;

public sealed class ActivationWireTests
{
    /// <summary>
    /// bf16 on the wire: random activations of mixed magnitudes come back within the stated relative
    /// tolerance (2^-8), the worst element is actually rounded (the test would catch a plain copy of f32
    /// or a truncation that doubles the error), and the payload is exactly half the f32 bytes.
    /// </summary>
    [Fact]
    public void BFloat16_round_trip_stays_within_half_an_ulp_and_halves_the_bytes()
    {
        var seed = Random.Shared.Next();
        var random = new Random(seed);
        var values = Enumerable.Range(0, 10_007).Select(_ => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 7)))).ToArray();
        var bytes = new byte[values.Length * 4];
        var written = ActivationWire.Encode(values, ActivationWire.BF16, bytes);
        var decoded = new float[values.Length];
        Array.Fill(decoded, float.NaN);

        ActivationWire.Decode(bytes.AsSpan(0, written), ActivationWire.BF16, decoded);

        Assert.Equal(values.Length * 2, written);
        var worst = values.Zip(decoded).Where(p => p.First != 0).Max(p => Math.Abs(p.Second - (double)p.First) / Math.Abs(p.First));
        Assert.True(worst <= ActivationWire.BFloat16RelativeError, $"seed {seed}: worst relative error {worst:E3} exceeds {ActivationWire.BFloat16RelativeError:E3}");
        Assert.True(worst > ActivationWire.BFloat16RelativeError / 4, $"seed {seed}: worst relative error {worst:E3} is too small for bf16 rounding");
    }

    /// <summary>Values already representable in bf16 (what GPU stages produce) cross bit-exact; NaN and infinities survive.</summary>
    [Fact]
    public void BFloat16_representable_values_and_specials_cross_exactly()
    {
        var seed = Random.Shared.Next();
        var random = new Random(seed);
        var values = Enumerable.Range(0, 4099).Select(_ => BitConverter.UInt32BitsToSingle((uint)random.Next(0, 0x7F7F) << 16)).ToList();
        values.AddRange([float.PositiveInfinity, float.NegativeInfinity, -0f, float.NaN]);
        var bytes = new byte[values.Count * 2];
        ActivationWire.Encode(values.ToArray(), ActivationWire.BF16, bytes);
        var decoded = new float[values.Count];
        Array.Fill(decoded, 1f);

        ActivationWire.Decode(bytes, ActivationWire.BF16, decoded);

        for (var i = 0; i < values.Count - 1; i++)
        {
            Assert.True(BitConverter.SingleToUInt32Bits(values[i]) == BitConverter.SingleToUInt32Bits(decoded[i]), $"seed {seed}: element {i} {values[i]} came back as {decoded[i]}");
        }

        Assert.True(float.IsNaN(decoded[^1]));
    }

    /// <summary>f32 on the wire is the identity, bit for bit.</summary>
    [Fact]
    public void F32_round_trip_is_bit_exact()
    {
        var random = new Random(Random.Shared.Next());
        var values = Enumerable.Range(0, 1023).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var bytes = new byte[values.Length * 4];
        var decoded = new float[values.Length];
        Array.Fill(decoded, float.NaN);

        ActivationWire.Decode(bytes.AsSpan(0, ActivationWire.Encode(values, ActivationWire.F32, bytes)), ActivationWire.F32, decoded);

        Assert.Equal(values, decoded);
    }

    /// <summary>Auto sends bf16 only from bf16 producers (lossless there) and f32 from f32 producers; explicit choices win.</summary>
    [Theory]
    [InlineData("Auto", true, "BF16")]
    [InlineData("Auto", false, "F32")]
    [InlineData("BF16", false, "BF16")]
    [InlineData("F32", true, "F32")]
    public void Auto_follows_the_producer_and_explicit_choices_win(string configured, bool bf16Producer, string expected)
        => Assert.Equal(expected, ActivationWire.Resolve(configured, bf16Producer));

    /// <summary>An unknown activation dtype is refused at validation, naming the setting and the bad value.</summary>
    [Fact]
    public void Unknown_activation_dtype_is_refused_naming_the_setting()
    {
        var options = new DataPlaneOptions { ActivationDType = "F16" };

        var error = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains("DataPlane:ActivationDType 'F16'", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A bf16 payload crosses the TCP data plane with its dtype and half the bytes of f32, decoding to the same values.</summary>
    [Fact]
    public async Task BFloat16_payload_crosses_the_listener_with_half_the_bytes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var random = new Random(Random.Shared.Next());
        var values = Enumerable.Range(0, 64 * 512).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var bytes = new byte[values.Length * 2];
        ActivationWire.Encode(values, ActivationWire.BF16, bytes);
        var expected = new float[values.Length];
        ActivationWire.Decode(bytes, ActivationWire.BF16, expected);

        var ticket = await pair.Listener.PublishAsync(new PayloadDescriptor(ActivationWire.BF16, 64, 512, bytes.Length), bytes, ct);
        using var received = await pair.Fetcher.FetchAsync(ticket, ct);
        var decoded = new float[values.Length];
        Array.Fill(decoded, float.NaN);
        ActivationWire.Decode(received.Bytes.Span, received.Descriptor.DType, decoded);

        Assert.Equal(ActivationWire.BF16, received.Descriptor.DType);
        Assert.Equal(values.Length * 2L, received.Descriptor.ByteLength);
        Assert.Equal(expected, decoded);
    }
}
