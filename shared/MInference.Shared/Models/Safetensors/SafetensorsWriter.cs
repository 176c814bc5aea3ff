using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace MInference.Shared.Models.Safetensors;

/// <summary>
/// Writes a safetensors file without ever holding it in memory: the tensors are declared up front, the
/// header (with their offsets, contiguous in declaration order) is written at once, and the data is
/// then written in pieces at known positions. <see cref="WriteTensorData"/> is thread-safe, so several
/// threads may fill different tensors (or parts of one) in parallel. <see cref="Complete"/> checks that
/// every byte was written exactly once.
/// </summary>
public sealed class SafetensorsWriter : IDisposable
{
    /// <summary>Header padded with spaces to this multiple so the data section starts aligned.</summary>
    private const int HeaderAlignment = 8;

    private readonly SafeFileHandle _file;
    private readonly Dictionary<string, Slot> _slots;
    private readonly long _dataStart;
    private bool _completed;

    private SafetensorsWriter(string filePath, SafeFileHandle file, Dictionary<string, Slot> slots, long dataStart)
    {
        FilePath = filePath;
        _file = file;
        _slots = slots;
        _dataStart = dataStart;
    }

    public string FilePath { get; }

    /// <summary>Total file size in bytes.</summary>
    public long FileLength { get; private set; }

    public static SafetensorsWriter Create(string filePath, IEnumerable<TensorInfo> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var slots = new Dictionary<string, Slot>(StringComparer.Ordinal);
        long offset = 0;
        using var headerBuffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(headerBuffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            foreach (var tensor in tensors)
            {
                if (tensor.Name == SafetensorsHeader.MetadataKey)
                {
                    throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor", nameof(tensors));
                }

                var length = checked(tensor.ElementCount * tensor.DType.SizeInBytes());
                if (!slots.TryAdd(tensor.Name, new Slot(tensor, offset, length)))
                {
                    throw new ArgumentException($"tensor '{tensor.Name}' is declared twice", nameof(tensors));
                }

                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", SafetensorsDTypes.ToName(tensor.DType));
                json.WriteStartArray("shape");
                foreach (var dim in tensor.Shape)
                {
                    json.WriteNumberValue(dim);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += length;
            }

            json.WriteEndObject();
        }

        var headerLength = (int)headerBuffer.Length;
        var paddedLength = (headerLength + HeaderAlignment - 1) / HeaderAlignment * HeaderAlignment;
        var prefix = new byte[8 + paddedLength];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)paddedLength);
        headerBuffer.GetBuffer().AsSpan(0, headerLength).CopyTo(prefix.AsSpan(8));
        prefix.AsSpan(8 + headerLength).Fill((byte)' ');

        var file = File.OpenHandle(filePath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, FileOptions.None, preallocationSize: prefix.Length + offset);
        try
        {
            RandomAccess.Write(file, prefix, 0);
            var writer = new SafetensorsWriter(filePath, file, slots, prefix.Length);
            writer.FileLength = prefix.Length + offset;
            return writer;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offsetInTensor"/> bytes into the tensor's data.</summary>
    public void WriteTensorData(string tensorName, long offsetInTensor, ReadOnlySpan<byte> data)
    {
        if (!_slots.TryGetValue(tensorName, out var slot))
        {
            throw new ArgumentException($"tensor '{tensorName}' was not declared for {FilePath}", nameof(tensorName));
        }

        if (offsetInTensor < 0 || offsetInTensor + data.Length > slot.Length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offsetInTensor),
                $"bytes [{offsetInTensor}, {offsetInTensor + data.Length}) fall outside tensor '{tensorName}' of {slot.Length} bytes");
        }

        RandomAccess.Write(_file, data, _dataStart + slot.Offset + offsetInTensor);
        slot.AddWritten(data.Length);
    }

    /// <summary>Checks every tensor was fully written and flushes the file to disk.</summary>
    public void Complete()
    {
        var incomplete = _slots.Values.FirstOrDefault(s => s.Written != s.Length);
        if (incomplete is not null)
        {
            throw new InvalidOperationException(
                $"{FilePath}: tensor '{incomplete.Info.Name}' received {incomplete.Written} of its {incomplete.Length} bytes");
        }

        RandomAccess.FlushToDisk(_file);
        _completed = true;
    }

    /// <summary>Closes the file; a file not <see cref="Complete"/>d is deleted so no half-written model is left behind.</summary>
    public void Dispose()
    {
        _file.Dispose();
        if (!_completed)
        {
            File.Delete(FilePath);
        }
    }

    /// <summary>Where a tensor's bytes go and how many have arrived.</summary>
    private sealed class Slot(TensorInfo info, long offset, long length)
    {
        private long _written;

        public TensorInfo Info { get; } = info;

        public long Offset { get; } = offset;

        public long Length { get; } = length;

        public long Written => Interlocked.Read(ref _written);

        public void AddWritten(long count) => Interlocked.Add(ref _written, count);
    }
}
