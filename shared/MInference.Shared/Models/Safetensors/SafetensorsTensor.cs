namespace MInference.Shared.Models.Safetensors;

/// <summary>One tensor of a safetensors file: its description and its byte range within the data section.</summary>
public sealed record SafetensorsTensor(TensorInfo Info, long DataBegin, long DataEnd)
{
    public string Name => Info.Name;

    public long ByteLength => DataEnd - DataBegin;
}
