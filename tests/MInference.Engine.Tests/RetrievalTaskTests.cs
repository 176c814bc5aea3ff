using System.Buffers.Binary;
using System.IO.Compression;
using MInference.Engine.Evaluation;
using MInference.Shared.Patterns;

namespace MInference.Engine.Tests;

/// <summary>The evaluation's task generators, density measure, config parser and PNG heat maps.</summary>
public sealed class RetrievalTaskTests
{
    /// <summary>
    /// Every task at several lengths: the same seed gives the same sample, another seed another one;
    /// the text is ASCII and its length (BOS + prompt + answer) is within 2 % or 90 bytes under the
    /// nominal length (KV fills whole pairs) and never over it; the answer is a retrievable fact.
    /// </summary>
    [Theory]
    [InlineData(RetrievalTaskKind.Niah)]
    [InlineData(RetrievalTaskKind.Multi)]
    [InlineData(RetrievalTaskKind.Kv)]
    [InlineData(RetrievalTaskKind.Vt)]
    public void Samples_are_deterministic_and_of_the_asked_length(RetrievalTaskKind task)
    {
        foreach (var tokens in new[] { 1024, 4096, 16384 })
        {
            var sample = RetrievalTaskGenerator.Create(task, tokens, 0.3, seed: 7);
            Assert.Equal(sample, RetrievalTaskGenerator.Create(task, tokens, 0.3, seed: 7));
            Assert.NotEqual(sample.Answer, RetrievalTaskGenerator.Create(task, tokens, 0.3, seed: 8).Answer);
            Assert.All(sample.Prompt + sample.Answer, c => Assert.True(c < 128, $"non-ASCII character {(int)c} in a {task} sample"));
            var total = 1 + sample.Prompt.Length + sample.Answer.Length;
            Assert.InRange(total, Math.Min(tokens - 90, (int)(tokens * 0.98)), tokens);
        }
    }

    /// <summary>
    /// NIAH and KV: the asked fact occurs exactly once in the prompt, at about the requested depth
    /// (within 3 % of the prompt for NIAH, whose needle moves to the next sentence start; within one
    /// pair for KV), for depths 0, 0.5 and 1.
    /// </summary>
    [Theory]
    [InlineData(RetrievalTaskKind.Niah, 0.0)]
    [InlineData(RetrievalTaskKind.Niah, 0.5)]
    [InlineData(RetrievalTaskKind.Niah, 1.0)]
    [InlineData(RetrievalTaskKind.Kv, 0.0)]
    [InlineData(RetrievalTaskKind.Kv, 0.5)]
    [InlineData(RetrievalTaskKind.Kv, 1.0)]
    public void The_asked_fact_sits_once_at_its_depth(RetrievalTaskKind task, double depth)
    {
        var sample = RetrievalTaskGenerator.Create(task, 8192, depth, seed: 11);
        var fact = task == RetrievalTaskKind.Niah ? sample.Answer.TrimEnd('.') : sample.Answer;
        var first = sample.Prompt.IndexOf(fact, StringComparison.Ordinal);
        Assert.True(first >= 0, $"the answer '{fact}' is not in the prompt");
        Assert.Equal(-1, sample.Prompt.IndexOf(fact, first + 1, StringComparison.Ordinal));
        var questionStart = task == RetrievalTaskKind.Niah
            ? sample.Prompt.LastIndexOf("\nQuestion:", StringComparison.Ordinal)
            : sample.Prompt.LastIndexOf("}\n\nKey:", StringComparison.Ordinal);
        var relative = (double)first / questionStart;
        Assert.InRange(relative, depth - 0.03, depth + 0.03);
    }

    /// <summary>
    /// Nominal density: dense and a config that selects every key are 1; A-shape(64, 1024) at 16K computes
    /// its 1088 keys for almost every query, about 1088 / 8192 of the causal square, and gets sparser with length.
    /// </summary>
    [Fact]
    public void Density_is_the_share_of_the_causal_square()
    {
        Assert.Equal(1.0, PatternDensity.Of(null, 4096));
        Assert.Equal(1.0, PatternDensity.Of(PatternConfig.Uniform(2, 4, HeadPattern.Default), 4096), 6);
        var aShape = PatternConfig.Uniform(2, 4, HeadPattern.AShape(64, 1024));
        var at16K = PatternDensity.Of(aShape, 16384);
        Assert.InRange(at16K, 0.9 * 1088.0 / 8192, 1.1 * 1088.0 / 8192);
        Assert.True(PatternDensity.Of(aShape, 65536) < at16K / 3, "A-shape's density must fall about linearly with length");
    }

    /// <summary>The config names of `minference eval` parse to the patterns they name; a bad size or name is refused with the text in the message.</summary>
    [Fact]
    public void Config_names_parse()
    {
        Assert.Null(EvaluationConfig.Parse("dense", 2, 4).Patterns);
        Assert.Equal(HeadPattern.Default, EvaluationConfig.Parse("default", 2, 4).Patterns![1, 3]);
        Assert.Equal(EvaluationConfig.DefaultAShape, EvaluationConfig.Parse("ashape", 2, 4).Patterns![0, 0]);
        Assert.Equal(HeadPattern.AShape(16, 512), EvaluationConfig.Parse("ashape:16,512", 2, 4).Patterns![1, 2]);
        Assert.Equal(HeadPattern.VerticalSlash(100, 800), EvaluationConfig.Parse("vs:100,800", 2, 4).Patterns![0, 1]);
        Assert.Contains("ashape:16", Assert.Throws<ArgumentException>(() => EvaluationConfig.Parse("ashape:16", 2, 4)).Message, StringComparison.Ordinal);
        Assert.Contains("no-such-config", Assert.Throws<ArgumentException>(() => EvaluationConfig.Parse("no-such-config", 2, 4)).Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The PNG writer: CRC-32 of "IEND" is PNG's well-known AE426082; a random 5 x 3 image has the PNG
    /// signature, an IHDR with its size, and an IDAT that inflates back to the pixels row by row.
    /// </summary>
    [Fact]
    public void Png_round_trips_pixels()
    {
        Assert.Equal(0xAE426082u, PngEncoder.Crc32("IEND"u8));
        var random = new Random(3);
        var pixels = new byte[5 * 3 * 3];
        random.NextBytes(pixels);

        var png = PngEncoder.Encode(pixels, 5, 3);

        Assert.Equal([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], png[..8]);
        Assert.Equal("IHDR"u8.ToArray(), png[12..16]);
        Assert.Equal(5, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(3, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        var idatAt = 8 + 25;
        var idatLength = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(idatAt));
        Assert.Equal("IDAT"u8.ToArray(), png[(idatAt + 4)..(idatAt + 8)]);
        using var inflater = new ZLibStream(new MemoryStream(png, idatAt + 8, idatLength), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        inflater.CopyTo(raw);
        var rows = raw.ToArray();
        Assert.Equal(3 * (1 + 15), rows.Length);
        for (var y = 0; y < 3; y++)
        {
            Assert.Equal(0, rows[y * 16]);
            Assert.Equal(pixels[(y * 15)..((y + 1) * 15)], rows[((y * 16) + 1)..((y + 1) * 16)]);
        }
    }

    /// <summary>The heat map has one cell of the given size per (depth, length): red for 0, green for 1, grey for not evaluated.</summary>
    [Fact]
    public void Heatmap_colours_cells()
    {
        Assert.Equal(((byte)220, (byte)60, (byte)60), AccuracyHeatmap.Colour(0));
        Assert.Equal(((byte)50, (byte)220, (byte)80), AccuracyHeatmap.Colour(1));
        Assert.Equal(((byte)160, (byte)160, (byte)160), AccuracyHeatmap.Colour(double.NaN));
        var png = AccuracyHeatmap.Render(new double[,] { { 0, 1, double.NaN }, { 0.5, 0.25, 1 } }, cellPixels: 8);
        Assert.Equal(24, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(16, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }
}
