namespace MInference.Kernels.Cuda;

/// <summary>
/// What <see cref="CudaBackend.SparseAttention(in Backends.AttentionArguments, IReadOnlyList{Shared.Patterns.HeadPattern})"/>
/// reports when a probe is attached (<see cref="CudaBackend.IndexProbe"/>): CUDA events around each index
/// build (estimation, the source's replacement, conversion) and events around the counting of the built
/// index's pairs for the caller's <see cref="Kernels.Sparse.HeadPatternCoverage"/> (a measurement, not part of the
/// algorithm). Benchmarks subtract both from the attention op's time.
/// </summary>
public sealed class SparseIndexProbe : IDisposable
{
    private readonly CudaContext _context;
    private readonly List<(CudaEvent Start, CudaEvent End, bool Counting)> _events = [];
    private int _used;

    public SparseIndexProbe(CudaContext context)
    {
        _context = context ?? throw new ArgumentNullException(nameof(context));
    }

    /// <summary>Forgets the timed regions (the events are reused).</summary>
    public void Reset() => _used = 0;

    /// <summary>GPU milliseconds of index building and of pair counting since <see cref="Reset"/>; the stream must have passed them (synchronize first).</summary>
    public (double BuildMilliseconds, double CountMilliseconds) Collect()
    {
        double build = 0, count = 0;
        for (var i = 0; i < _used; i++)
        {
            var (start, end, counting) = _events[i];
            var ms = end.ElapsedSince(start);
            if (counting)
            {
                count += ms;
            }
            else
            {
                build += ms;
            }
        }

        return (build, count);
    }

    public void Dispose()
    {
        foreach (var (start, end, _) in _events)
        {
            start.Dispose();
            end.Dispose();
        }

        _events.Clear();
    }

    /// <summary>Records a start event on <paramref name="stream"/>; the returned slot is closed by <see cref="End"/>.</summary>
    internal int Begin(CudaStream stream, bool counting)
    {
        if (_used == _events.Count)
        {
            _events.Add((new CudaEvent(_context), new CudaEvent(_context), counting));
        }

        var slot = _used++;
        _events[slot] = (_events[slot].Start, _events[slot].End, counting);
        _events[slot].Start.Record(stream);
        return slot;
    }

    internal void End(CudaStream stream, int slot) => _events[slot].End.Record(stream);
}
