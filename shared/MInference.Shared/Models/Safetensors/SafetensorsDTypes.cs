namespace MInference.Shared.Models.Safetensors;

/// <summary>The dtype strings of the safetensors header that the loader accepts.</summary>
public static class SafetensorsDTypes
{
    public const string Supported = "BF16, F16, F32";

    public static bool TryParse(string name, out TensorDType dtype)
    {
        switch (name)
        {
            case "BF16":
                dtype = TensorDType.BFloat16;
                return true;
            case "F16":
                dtype = TensorDType.Float16;
                return true;
            case "F32":
                dtype = TensorDType.Float32;
                return true;
            default:
                dtype = default;
                return false;
        }
    }

    public static string ToName(TensorDType dtype) => dtype switch
    {
        TensorDType.BFloat16 => "BF16",
        TensorDType.Float16 => "F16",
        TensorDType.Float32 => "F32",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown tensor dtype"),
    };
}
