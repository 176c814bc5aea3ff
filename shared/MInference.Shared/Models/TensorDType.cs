namespace MInference.Shared.Models;

/// <summary>Element types that model files and compute backends exchange.</summary>
public enum TensorDType
{
    Float32,
    BFloat16,
    Float16,
}

public static class TensorDTypeExtensions
{
    public static int SizeInBytes(this TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => 4,
        TensorDType.BFloat16 or TensorDType.Float16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown tensor dtype"),
    };
}
