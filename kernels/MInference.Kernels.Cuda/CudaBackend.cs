using System.Runtime.InteropServices;
using MInference.Kernels.Backends;
using MInference.Kernels.Cuda.Interop;
using MInference.Shared.Models;

namespace MInference.Kernels.Cuda;

/// <summary>
/// The op set on one NVIDIA GPU: bf16 activations and weights, f32 accumulation, cuBLAS for
/// Linear, our kernels (kernels/cuda) for the rest. All work runs in order on one stream.
/// </summary>
public sealed unsafe partial class CudaBackend : IComputeBackend
{
    internal const int ElementwiseThreads = 256;
    internal const long MaxElementwiseBlocks = 1 << 16;
    internal const int RmsNormThreads = 256;
    internal const long MaxRmsNormBlocks = 1 << 20;
    internal const int FlashQueryBlock = 64;
    internal const int FlashThreads = 128;

    /// <summary>A single query row over at least this many keys takes the split decode kernels.</summary>
    internal const long DecodeMinKeys = 4096;

    /// <summary>Keys per block of decode_attention_split: ~2K blocks per head at 2M keys.</summary>
    internal const long DecodeKeysPerSplit = 1024;
    internal const int DecodeThreads = 128;
    internal const int MmaRowPad = DenseAttentionTiling.RowPad;
    internal const int ReferenceThreads = 256;
    internal const int MaxGridY = 65535;
    internal const ushort BFloat16QuietNaN = 0x7FC0;
    internal const float Log2E = 1.4426950408889634f;

    /// <summary>Host↔device f32 conversions go through a device scratch buffer this many elements at a time.</summary>
    internal const long ConversionChunkElements = 16L << 20;

    private readonly CudaContext _context;
    private readonly CudaStream _stream;
    private readonly CudaModule _module;
    private readonly CublasHandle _cublas;
    private readonly Dictionary<string, CudaKernel> _kernels = [];
    private readonly HashSet<string> _sharedMemoryRaised = [];
    private DeviceBuffer? _scratch;
    private DeviceBuffer? _decodePartials;
    private bool _useWgmma;

    private CudaBackend(int ordinal, string fatbinPath)
    {
        _context = new CudaContext(ordinal);
        try
        {
            _stream = new CudaStream(_context);
            _module = new CudaModule(_context, File.ReadAllBytes(fatbinPath));
            _cublas = new CublasHandle(_context, _stream);
        }
        catch
        {
            _context.Dispose();
            throw;
        }

        Name = $"cuda:{ordinal} {_context.Device.Name}";
        _useWgmma = WgmmaAttentionTiling.Supports(_context.Device);
    }

    /// <summary>Opens device <paramref name="ordinal"/> with the fatbin at <paramref name="fatbinPath"/> (default: <see cref="CudaModule.LocateFatbin"/>).</summary>
    public static CudaBackend Create(int ordinal = 0, string? fatbinPath = null)
    {
        CudaDevice.EnsureInitialised();
        return new CudaBackend(ordinal, fatbinPath ?? CudaModule.LocateFatbin());
    }

    public string Name { get; }

    public TensorDType ActivationDType => TensorDType.BFloat16;

    public CudaContext Context => _context;

    public CudaStream Stream => _stream;

    /// <summary>Which dense attention kernel <see cref="Attention"/> runs; tensor cores unless a test or benchmark asks otherwise.</summary>
    public FlashAttentionKernel AttentionKernel { get; set; } = FlashAttentionKernel.TensorCore;

    /// <summary>The tensor-core kernel's tiling; null takes <see cref="DenseAttentionTiling.Default"/> for the head dim (benchmarks and tests pick others).</summary>
    /// <remarks>Naming a tiling runs the mma.sync kernel even where <see cref="UseWgmma"/> is on.</remarks>
    public DenseAttentionTiling? AttentionTiling { get; set; }

    /// <summary>
    /// Whether d-128 dense attention (tensor-core kernel, no tiling named), A-shape and block-sparse attention
    /// take the Hopper wgmma kernels (<see cref="WgmmaAttentionTiling"/>); VS and the head-pair kernels stay on
    /// mma.sync. On by default on compute capability 9.0, where they measured faster; off elsewhere, and
    /// turning it on there throws.
    /// </summary>
    public bool UseWgmma
    {
        get => _useWgmma;
        set
        {
            if (value && !WgmmaAttentionTiling.Supports(_context.Device))
            {
                throw new InvalidOperationException($"the wgmma kernels need compute capability 9.0; {_context.Device.Name} has {_context.Device.ComputeMajor}.{_context.Device.ComputeMinor}");
            }

            _useWgmma = value;
        }
    }

    internal CudaModule Module => _module;

    public IDeviceTensor Allocate(long rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        var buffer = _context.Allocate(checked(rows * columns * 2));
        return new CudaTensor(buffer, rows, columns, TensorDType.BFloat16);
    }

    public IDeviceTensor Upload(ReadOnlySpan<float> values, long rows, int columns)
    {
        ExpectLength(values.Length, rows, columns, nameof(values));
        var tensor = (CudaTensor)Allocate(rows, columns);
        UploadF32(values, tensor.Pointer);
        return tensor;
    }

    public IDeviceTensor UploadWeight(ReadOnlySpan<byte> raw, TensorDType sourceDType, long rows, int columns)
    {
        var elementSize = sourceDType.SizeInBytes();
        if (raw.Length != checked(rows * columns * elementSize))
        {
            throw new ArgumentException($"weight of {raw.Length} bytes does not hold [{rows}, {columns}] {sourceDType} ({rows * columns * elementSize} bytes)", nameof(raw));
        }

        var tensor = (CudaTensor)Allocate(rows, columns);
        switch (sourceDType)
        {
            case TensorDType.BFloat16:
                CopyToDevice(raw, tensor.Pointer);
                break;
            case TensorDType.Float32:
                UploadF32(MemoryMarshal.Cast<byte, float>(raw), tensor.Pointer);
                break;
            case TensorDType.Float16:
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                var chunk = new float[Math.Min(halves.Length, ConversionChunkElements)];
                for (long done = 0; done < halves.Length; done += chunk.Length)
                {
                    var count = (int)Math.Min(chunk.Length, halves.Length - done);
                    for (var i = 0; i < count; i++)
                    {
                        chunk[i] = (float)halves[(int)done + i];
                    }

                    UploadF32(chunk.AsSpan(0, count), tensor.Pointer + (ulong)(done * 2));
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(sourceDType), sourceDType, "unsupported weight dtype");
        }

        return tensor;
    }

    public void Download(IDeviceTensor source, Span<float> destination)
    {
        var tensor = Cuda(source, nameof(source));
        ExpectLength(destination.Length, tensor.Rows, tensor.Columns, nameof(destination));
        _context.MakeCurrent();
        var convert = Kernel("bf16_to_f32");
        var scratch = Scratch(Math.Min(tensor.ElementCount, ConversionChunkElements) * sizeof(float));
        for (long done = 0; done < tensor.ElementCount; done += ConversionChunkElements)
        {
            var count = Math.Min(ConversionChunkElements, tensor.ElementCount - done);
            LaunchElementwise(convert, count, tensor.Pointer + (ulong)(done * 2), scratch, count);
            fixed (float* p = destination.Slice((int)done, (int)count))
            {
                CudaException.Check(CudaDriver.MemcpyDtoHAsync(p, scratch, (nuint)(count * sizeof(float)), _stream.Value), "cuMemcpyDtoHAsync_v2");
            }
        }

        _stream.Synchronize();
    }

    public void CopyRows(IDeviceTensor source, long sourceRow, IDeviceTensor destination, long destinationRow, long rowCount)
    {
        var src = Cuda(source, nameof(source));
        var dst = Cuda(destination, nameof(destination));
        if (src.Columns != dst.Columns)
        {
            throw new ArgumentException($"column counts differ: source {src.Columns}, destination {dst.Columns}", nameof(destination));
        }

        if (rowCount < 0 || sourceRow < 0 || destinationRow < 0 || sourceRow + rowCount > src.Rows || destinationRow + rowCount > dst.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(rowCount), $"copy of {rowCount} rows from row {sourceRow} of {src.Rows} to row {destinationRow} of {dst.Rows} is out of range");
        }

        if (rowCount == 0)
        {
            return;
        }

        _context.MakeCurrent();
        var rowBytes = (ulong)src.Columns * 2;
        CudaException.Check(
            CudaDriver.MemcpyDtoDAsync(dst.Pointer + ((ulong)destinationRow * rowBytes), src.Pointer + ((ulong)sourceRow * rowBytes), (nuint)((ulong)rowCount * rowBytes), _stream.Value),
            "cuMemcpyDtoDAsync_v2");
    }

    public void Embedding(IDeviceTensor table, ReadOnlySpan<int> tokenIds, IDeviceTensor output)
    {
        var t = Cuda(table, nameof(table));
        var o = Cuda(output, nameof(output));
        if (o.Rows != tokenIds.Length || o.Columns != t.Columns)
        {
            throw new ArgumentException($"output [{o.Rows}, {o.Columns}] must be [{tokenIds.Length}, {t.Columns}]", nameof(output));
        }

        for (var i = 0; i < tokenIds.Length; i++)
        {
            if ((uint)tokenIds[i] >= (ulong)t.Rows)
            {
                throw new ArgumentOutOfRangeException(nameof(tokenIds), tokenIds[i], $"token id at {i} outside the vocabulary of {t.Rows}");
            }
        }

        if (tokenIds.Length == 0)
        {
            return;
        }

        _context.MakeCurrent();
        var ids = Scratch((long)tokenIds.Length * sizeof(int));
        CopyToDevice(MemoryMarshal.AsBytes(tokenIds), ids);
        LaunchElementwise(Kernel("embedding_gather_bf16"), o.ElementCount, t.Pointer, ids, o.Pointer, o.Rows, o.Columns);
    }

    public void RmsNorm(IDeviceTensor input, IDeviceTensor weight, float epsilon, IDeviceTensor output)
    {
        var x = Cuda(input, nameof(input));
        var w = Cuda(weight, nameof(weight));
        var y = Cuda(output, nameof(output));
        SameShape(x, y, nameof(output));
        if (w.ElementCount != x.Columns)
        {
            throw new ArgumentException($"weight [{w.Rows}, {w.Columns}] must hold {x.Columns} values", nameof(weight));
        }

        if (x.Rows == 0)
        {
            return;
        }

        _context.MakeCurrent();
        Kernel("rmsnorm_bf16").Launch(_stream, ((uint)Math.Min(x.Rows, MaxRmsNormBlocks), 1), RmsNormThreads, 0, x.Pointer, w.Pointer, y.Pointer, x.Rows, x.Columns, epsilon);
    }

    public void Linear(IDeviceTensor input, IDeviceTensor weight, IDeviceTensor? bias, IDeviceTensor output)
    {
        var x = Cuda(input, nameof(input));
        var w = Cuda(weight, nameof(weight));
        var y = Cuda(output, nameof(output));
        if (x.Columns != w.Columns || y.Rows != x.Rows || y.Columns != w.Rows)
        {
            throw new ArgumentException($"linear shapes don't match: input [{x.Rows}, {x.Columns}] · weight [{w.Rows}, {w.Columns}]ᵀ -> output [{y.Rows}, {y.Columns}]", nameof(output));
        }

        if (x.Rows > int.MaxValue || w.Rows > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(input), x.Rows, $"linear of {x.Rows} rows exceeds cuBLAS's {int.MaxValue}; chunk the tokens");
        }

        if (x.Rows == 0)
        {
            return;
        }

        _cublas.GemmBf16RowMajorTransposedWeight(x.Pointer, w.Pointer, y.Pointer, (int)x.Rows, (int)w.Rows, x.Columns);
        if (bias is not null)
        {
            var b = Cuda(bias, nameof(bias));
            if (b.ElementCount != y.Columns)
            {
                throw new ArgumentException($"bias [{b.Rows}, {b.Columns}] must hold {y.Columns} values", nameof(bias));
            }

            LaunchElementwise(Kernel("add_bias_rows_bf16"), y.ElementCount, y.Pointer, b.Pointer, y.Rows, y.Columns);
        }
    }

    public void ApplyRope(IDeviceTensor x, int headDim, long firstPosition, RopeFrequencies frequencies)
    {
        ArgumentNullException.ThrowIfNull(frequencies);
        var t = Cuda(x, nameof(x));
        if (headDim <= 0 || headDim % 2 != 0 || t.Columns % headDim != 0)
        {
            throw new ArgumentException($"head_dim {headDim} must be even and divide the {t.Columns} columns", nameof(headDim));
        }

        var inverse = frequencies.AsSpan();
        if (inverse.Length != headDim / 2)
        {
            throw new ArgumentException($"{inverse.Length} inverse frequencies given for head_dim {headDim} (needs {headDim / 2})", nameof(frequencies));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(firstPosition);
        if (t.Rows == 0)
        {
            return;
        }

        _context.MakeCurrent();
        var device = Scratch(inverse.Length * sizeof(float));
        CopyToDevice(MemoryMarshal.AsBytes(inverse), device);
        LaunchElementwise(Kernel("rope_bf16"), t.Rows * (t.Columns / 2), t.Pointer, t.Rows, t.Columns, headDim, firstPosition, device);
    }

    public void Attention(in AttentionArguments arguments)
    {
        var (q, k, v, o) = CheckAttention(arguments);
        if (q.Rows == 0)
        {
            return;
        }

        _context.MakeCurrent();
        if (q.Rows == 1 && arguments.KeyLength >= DecodeMinKeys)
        {
            Decode(arguments, q, k, v, o);
            return;
        }

        var d = arguments.HeadDim;
        CudaKernel kernel;
        var sharedBytes = 0;
        var threads = FlashThreads;
        var gridX = arguments.QueryHeads;
        long blocks;
        if (AttentionKernel == FlashAttentionKernel.TensorCore && AttentionTiling is null && _useWgmma && d == WgmmaAttentionTiling.HeadDim)
        {
            var wgmma = WgmmaAttentionTiling.Dense;
            kernel = Kernel(wgmma.KernelName);
            blocks = (q.Rows + wgmma.QueryRows - 1) / wgmma.QueryRows;
            sharedBytes = wgmma.SharedBytes;
            threads = wgmma.Threads;
            if (_sharedMemoryRaised.Add(kernel.Name))
            {
                kernel.SetMaxDynamicSharedMemory(sharedBytes);
            }
        }
        else if (AttentionKernel == FlashAttentionKernel.TensorCore)
        {
            var groupSize = arguments.QueryHeads / arguments.KeyValueHeads;
            var tiling = AttentionTiling ?? DenseAttentionTiling.Default(d, groupSize);
            if (tiling.HeadDim != d)
            {
                throw new ArgumentException($"attention tiling {tiling} is for head_dim {tiling.HeadDim}, the call has {d}", nameof(arguments));
            }

            if (!tiling.Serves(groupSize))
            {
                throw new ArgumentException($"attention tiling {tiling} packs {tiling.HeadsPerBlock} query heads per block; GQA groups of {groupSize} can't be split that way", nameof(arguments));
            }

            kernel = Kernel(tiling.KernelName);
            gridX = arguments.QueryHeads / tiling.HeadsPerBlock;
            blocks = (q.Rows + tiling.PositionRows - 1) / tiling.PositionRows;
            sharedBytes = tiling.SharedBytes;
            threads = tiling.Threads;
            if (_sharedMemoryRaised.Add(kernel.Name))
            {
                kernel.SetMaxDynamicSharedMemory(sharedBytes);
            }
        }
        else
        {
            kernel = Kernel($"flash_attention_forward_d{d}");
            blocks = (q.Rows + FlashQueryBlock - 1) / FlashQueryBlock;
        }

        kernel.Launch(
            _stream, ((uint)gridX, (uint)blocks), (uint)threads, (uint)sharedBytes,
            q.Pointer, k.Pointer, v.Pointer, o.Pointer, q.Rows, arguments.QueryStart,
            arguments.QueryHeads, arguments.KeyValueHeads, arguments.Scale * Log2E);
    }

    public void SwiGlu(IDeviceTensor gate, IDeviceTensor up, IDeviceTensor output)
    {
        var g = Cuda(gate, nameof(gate));
        var u = Cuda(up, nameof(up));
        var o = Cuda(output, nameof(output));
        SameShape(g, u, nameof(up));
        SameShape(g, o, nameof(output));
        _context.MakeCurrent();
        LaunchElementwise(Kernel("swiglu_bf16"), g.ElementCount, g.Pointer, u.Pointer, o.Pointer, g.ElementCount);
    }

    public void AddInPlace(IDeviceTensor target, IDeviceTensor addend)
    {
        var t = Cuda(target, nameof(target));
        var a = Cuda(addend, nameof(addend));
        SameShape(t, a, nameof(addend));
        _context.MakeCurrent();
        LaunchElementwise(Kernel("add_inplace_bf16"), t.ElementCount, t.Pointer, a.Pointer, t.ElementCount);
    }

    public void Synchronize() => _stream.Synchronize();

    /// <summary>Fills a tensor with seeded uniform values in [-1, 1) on the GPU (test and benchmark inputs).</summary>
    public void FillRandom(IDeviceTensor tensor, ulong seed)
    {
        var t = Cuda(tensor, nameof(tensor));
        _context.MakeCurrent();
        LaunchElementwise(Kernel("fill_random_bf16"), t.ElementCount, t.Pointer, t.ElementCount, KernelArgument.FromUInt64(seed));
    }

    /// <summary>Sets every element to a quiet NaN, so a test sees any element an op fails to write.</summary>
    public void Poison(IDeviceTensor tensor)
    {
        var t = Cuda(tensor, nameof(tensor));
        if (t.ElementCount == 0)
        {
            return;
        }

        _context.MakeCurrent();
        CudaException.Check(CudaDriver.MemsetD16Async(t.Pointer, BFloat16QuietNaN, (nuint)t.ElementCount, _stream.Value), "cuMemsetD16Async");
    }

    /// <summary>
    /// The plain f32 GPU attention (attention_reference.cu) for the given query rows of the span:
    /// returns <c>[rows.Length, QueryHeads * HeadDim]</c> f32. The oracle for lengths the CPU can't hold.
    /// </summary>
    public float[] ReferenceAttentionRows(in AttentionArguments arguments, ReadOnlySpan<long> rows)
    {
        var (q, k, v, _) = CheckAttention(arguments);
        foreach (var row in rows)
        {
            if (row < 0 || row >= q.Rows)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), row, $"sampled row outside the span of {q.Rows}");
            }
        }

        var result = new float[rows.Length * q.Columns];
        if (rows.IsEmpty)
        {
            return result;
        }

        _context.MakeCurrent();
        using var rowBuffer = _context.Allocate(rows.Length * sizeof(long));
        using var output = _context.Allocate(result.Length * sizeof(float));
        CopyToDevice(MemoryMarshal.AsBytes(rows), rowBuffer.Pointer);
        Kernel($"attention_reference_d{arguments.HeadDim}").Launch(
            _stream, ((uint)rows.Length, (uint)arguments.QueryHeads), ReferenceThreads, 0,
            q.Pointer, k.Pointer, v.Pointer, output.Pointer, rowBuffer.Pointer, arguments.QueryStart,
            arguments.QueryHeads, arguments.KeyValueHeads, arguments.Scale);
        fixed (float* p = result)
        {
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(p, output.Pointer, (nuint)(result.Length * sizeof(float)), _stream.Value), "cuMemcpyDtoHAsync_v2");
        }

        _stream.Synchronize();
        return result;
    }

    public void Dispose()
    {
        try
        {
            _stream.Synchronize();
        }
        finally
        {
            _scratch?.Dispose();
            _decodePartials?.Dispose();
            _sparseWorkspace?.Dispose();
            _logits?.Dispose();
            _cublas.Dispose();
            _module.Dispose();
            _stream.Dispose();
            _context.Dispose();
        }
    }

    private static (CudaTensor Q, CudaTensor K, CudaTensor V, CudaTensor O) CheckAttention(in AttentionArguments a)
    {
        var q = Cuda(a.Query, "Query");
        var k = Cuda(a.KeyCache, "KeyCache");
        var v = Cuda(a.ValueCache, "ValueCache");
        var o = Cuda(a.Output, "Output");
        if (a.HeadDim is not (64 or 128))
        {
            throw new ArgumentOutOfRangeException(nameof(a), a.HeadDim, "head_dim must be 64 or 128 for the CUDA attention kernels");
        }

        if (a.QueryHeads <= 0 || a.KeyValueHeads <= 0 || a.QueryHeads % a.KeyValueHeads != 0)
        {
            throw new ArgumentException($"query heads {a.QueryHeads} must be a positive multiple of KV heads {a.KeyValueHeads}", nameof(a));
        }

        if (q.Columns != a.QueryHeads * a.HeadDim || o.Columns != q.Columns || o.Rows != q.Rows)
        {
            throw new ArgumentException($"query [{q.Rows}, {q.Columns}] and output [{o.Rows}, {o.Columns}] must both be [rows, {a.QueryHeads * a.HeadDim}]", nameof(a));
        }

        if (k.Columns != a.KeyValueHeads * a.HeadDim || v.Columns != k.Columns)
        {
            throw new ArgumentException($"key cache [{k.Rows}, {k.Columns}] and value cache [{v.Rows}, {v.Columns}] must have {a.KeyValueHeads * a.HeadDim} columns", nameof(a));
        }

        if (a.QueryStart < 0 || k.Rows < a.KeyLength || v.Rows < a.KeyLength)
        {
            throw new ArgumentOutOfRangeException(nameof(a), $"query span at {a.QueryStart} of {q.Rows} rows needs {a.KeyLength} cached keys; the caches hold {k.Rows} and {v.Rows}");
        }

        // The simple kernel's 64-row blocks bound the span more tightly than the 128-row mma blocks.
        if ((q.Rows + FlashQueryBlock - 1) / FlashQueryBlock > MaxGridY)
        {
            throw new ArgumentOutOfRangeException(nameof(a), q.Rows, $"query span of {q.Rows} rows exceeds the kernel's {(long)MaxGridY * FlashQueryBlock}; split it");
        }

        return (q, k, v, o);
    }

    /// <summary>One query over a long cache: split the keys over blocks, then merge (decode_attention.cu).</summary>
    private void Decode(in AttentionArguments arguments, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor o)
    {
        var d = arguments.HeadDim;
        var splits = (arguments.KeyLength + DecodeKeysPerSplit - 1) / DecodeKeysPerSplit;
        if (splits > MaxGridY)
        {
            throw new ArgumentOutOfRangeException(nameof(arguments), arguments.KeyLength, $"decode over {arguments.KeyLength} keys exceeds {(long)MaxGridY * DecodeKeysPerSplit}");
        }

        var outBytes = splits * arguments.QueryHeads * d * sizeof(float);
        var statBytes = splits * arguments.QueryHeads * 2 * sizeof(float);
        if (_decodePartials is null || _decodePartials.Bytes < outBytes + statBytes)
        {
            // Work queued earlier may still read the old buffer.
            _stream.Synchronize();
            _decodePartials?.Dispose();
            _decodePartials = _context.Allocate(outBytes + statBytes);
        }

        var partialOut = _decodePartials.Pointer;
        var partialStats = partialOut + (ulong)outBytes;
        Kernel($"decode_attention_split_d{d}").Launch(
            _stream, ((uint)arguments.QueryHeads, (uint)splits), DecodeThreads, 0,
            q.Pointer, k.Pointer, v.Pointer, partialOut, partialStats, arguments.QueryStart,
            arguments.QueryHeads, arguments.KeyValueHeads, arguments.Scale * Log2E, DecodeKeysPerSplit);
        Kernel("decode_attention_merge").Launch(
            _stream, ((uint)arguments.QueryHeads, 1), (uint)d, 0,
            partialOut, partialStats, o.Pointer, (int)splits, arguments.QueryHeads, d);
    }

    private CudaKernel Kernel(string name)
    {
        if (!_kernels.TryGetValue(name, out var kernel))
        {
            kernel = _module.GetKernel(name);
            _kernels[name] = kernel;
        }

        return kernel;
    }

    private void LaunchElementwise(CudaKernel kernel, long elements, params ReadOnlySpan<KernelArgument> arguments)
    {
        if (elements == 0)
        {
            return;
        }

        var blocks = Math.Min((elements + ElementwiseThreads - 1) / ElementwiseThreads, MaxElementwiseBlocks);
        kernel.Launch(_stream, ((uint)blocks, 1), ElementwiseThreads, 0, arguments);
    }

    /// <summary>A device scratch area of at least <paramref name="bytes"/>; its contents are the caller's until the next call.</summary>
    private ulong Scratch(long bytes)
    {
        if (_scratch is null || _scratch.Bytes < bytes)
        {
            // Work queued earlier may still read the old area.
            _stream.Synchronize();
            _scratch?.Dispose();
            _scratch = _context.Allocate(Math.Max(bytes, 1 << 20));
        }

        return _scratch.Pointer;
    }

    private void UploadF32(ReadOnlySpan<float> values, ulong destination)
    {
        _context.MakeCurrent();
        var convert = Kernel("f32_to_bf16");
        var scratch = Scratch(Math.Min(values.Length, ConversionChunkElements) * sizeof(float));
        for (long done = 0; done < values.Length; done += ConversionChunkElements)
        {
            var count = (int)Math.Min(ConversionChunkElements, values.Length - done);
            CopyToDevice(MemoryMarshal.AsBytes(values.Slice((int)done, count)), scratch);
            LaunchElementwise(convert, count, scratch, destination + (ulong)(done * 2), (long)count);
        }
    }

    /// <summary>
    /// Pageable host -> device on the stream. The driver returns once it has staged the source, so
    /// the span may be reused at once; the copy stays ordered with the stream's kernels.
    /// </summary>
    private void CopyToDevice(ReadOnlySpan<byte> source, ulong destination)
    {
        if (source.IsEmpty)
        {
            return;
        }

        _context.MakeCurrent();
        fixed (byte* p = source)
        {
            CudaException.Check(CudaDriver.MemcpyHtoDAsync(destination, p, (nuint)source.Length, _stream.Value), "cuMemcpyHtoDAsync_v2");
        }
    }

    private static CudaTensor Cuda(IDeviceTensor tensor, string name)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor is not CudaTensor { DType: TensorDType.BFloat16 } cuda)
        {
            throw new ArgumentException($"{name} must be a bf16 tensor of the CUDA backend, got {tensor}", name);
        }

        return cuda;
    }

    private static void SameShape(CudaTensor a, CudaTensor b, string name)
    {
        if (a.Rows != b.Rows || a.Columns != b.Columns)
        {
            throw new ArgumentException($"{name} is [{b.Rows}, {b.Columns}], expected [{a.Rows}, {a.Columns}]", name);
        }
    }

    private static void ExpectLength(long length, long rows, int columns, string name)
    {
        if (rows < 0 || columns <= 0 || length != rows * columns)
        {
            throw new ArgumentException($"{name} holds {length} values, [{rows}, {columns}] needs {rows * columns}", name);
        }
    }
}
