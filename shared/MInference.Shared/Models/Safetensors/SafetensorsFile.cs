using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace MInference.Shared.Models.Safetensors;

/// <summary>
/// A safetensors file mapped read-only into memory: tensor bytes are served straight from the page
/// cache without copies, so a stage touches only the pages of the tensors it reads.
/// Layout: u64 little-endian header length N, N bytes of JSON header, then the data section.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private const int LengthPrefixBytes = 8;

    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _dataStart;
    private bool _disposed;

    private SafetensorsFile(string filePath, MemoryMappedFile mapping, MemoryMappedViewAccessor view, byte* dataStart, SafetensorsHeader header)
    {
        FilePath = filePath;
        _mapping = mapping;
        _view = view;
        _dataStart = dataStart;
        Header = header;
    }

    public string FilePath { get; }

    public SafetensorsHeader Header { get; }

    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors => Header.Tensors;

    public IReadOnlyDictionary<string, string> Metadata => Header.Metadata;

    /// <summary>Maps and validates the file; throws <see cref="ModelFormatException"/> naming the file and the problem.</summary>
    public static SafetensorsFile Open(string filePath)
    {
        long fileLength;
        try
        {
            fileLength = new FileInfo(filePath).Length;
        }
        catch (FileNotFoundException ex)
        {
            throw new ModelFormatException(filePath, null, "file not found", ex);
        }

        if (fileLength < LengthPrefixBytes)
        {
            throw new ModelFormatException(filePath, null, $"file is truncated: {fileLength} bytes, shorter than the {LengthPrefixBytes}-byte header length");
        }

        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        var pointerAcquired = false;
        try
        {
            mapping = MemoryMappedFile.CreateFromFile(filePath, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            pointerAcquired = true;
            start += view.PointerOffset;

            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(start, LengthPrefixBytes));
            var available = fileLength - LengthPrefixBytes;
            if (headerLength > (ulong)available)
            {
                throw new ModelFormatException(filePath, null, $"header length {headerLength} runs past the end of the file ({available} bytes follow the length)");
            }

            if (headerLength > SafetensorsHeader.MaxHeaderBytes)
            {
                throw new ModelFormatException(filePath, null, $"header length {headerLength} exceeds the {SafetensorsHeader.MaxHeaderBytes}-byte limit");
            }

            var headerBytes = new ReadOnlySpan<byte>(start + LengthPrefixBytes, (int)headerLength);
            var dataLength = available - (long)headerLength;
            var header = SafetensorsHeader.Parse(headerBytes, dataLength, filePath);
            return new SafetensorsFile(filePath, mapping, view, start + LengthPrefixBytes + (long)headerLength, header);
        }
        catch
        {
            if (pointerAcquired)
            {
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            }

            view?.Dispose();
            mapping?.Dispose();
            throw;
        }
    }

    public bool Contains(string tensorName) => Header.Tensors.ContainsKey(tensorName);

    public SafetensorsTensor GetTensor(string tensorName)
        => Header.Tensors.TryGetValue(tensorName, out var tensor)
            ? tensor
            : throw new ModelFormatException(FilePath, tensorName, "is not in this file");

    /// <summary>The tensor's bytes, valid until this file is disposed.</summary>
    public ReadOnlySpan<byte> GetBytes(string tensorName)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var tensor = GetTensor(tensorName);
        if (tensor.ByteLength > int.MaxValue)
        {
            throw new ModelFormatException(FilePath, tensorName, $"is {tensor.ByteLength} bytes, more than one span can address ({int.MaxValue})");
        }

        return new ReadOnlySpan<byte>(_dataStart + tensor.DataBegin, (int)tensor.ByteLength);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }
}
