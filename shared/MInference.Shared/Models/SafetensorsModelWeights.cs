using MInference.Shared.Models.Safetensors;

namespace MInference.Shared.Models;

/// <summary>
/// The weights of a Hugging Face model directory (single <c>model.safetensors</c> or shards listed in
/// <c>model.safetensors.index.json</c>), restricted to the tensors a stage owning layers
/// [<see cref="FirstLayer"/>, <see cref="EndLayer"/>) needs. Only the shards holding those tensors are
/// mapped; each needed tensor is checked for presence and exact shape when the directory is opened.
/// </summary>
public sealed class SafetensorsModelWeights : IModelWeights
{
    private readonly Dictionary<string, SafetensorsFile> _fileOfTensor;
    private readonly List<SafetensorsFile> _files;

    private SafetensorsModelWeights(ModelSpec spec, int firstLayer, int endLayer, Dictionary<string, SafetensorsFile> fileOfTensor, List<SafetensorsFile> files)
    {
        Spec = spec;
        FirstLayer = firstLayer;
        EndLayer = endLayer;
        _fileOfTensor = fileOfTensor;
        _files = files;
    }

    public ModelSpec Spec { get; }

    public int FirstLayer { get; }

    /// <summary>One past the last owned layer.</summary>
    public int EndLayer { get; }

    /// <summary>The safetensors files this instance mapped (full paths), in the order opened.</summary>
    public IReadOnlyList<string> OpenedFiles => _files.Select(f => f.FilePath).ToList();

    /// <summary>The tensors this instance serves (those the layer range needs).</summary>
    public IReadOnlyCollection<string> TensorNames => _fileOfTensor.Keys;

    /// <summary>Opens all layers of the model in <paramref name="modelDirectory"/>.</summary>
    public static SafetensorsModelWeights Open(string modelDirectory) => Open(modelDirectory, 0, null);

    /// <summary>
    /// Opens layers [<paramref name="firstLayer"/>, <paramref name="endLayer"/>) (null: to the last layer),
    /// plus the embedding when the range starts at 0 and the final norm and LM head when it ends at the last layer.
    /// </summary>
    public static SafetensorsModelWeights Open(string modelDirectory, int firstLayer, int? endLayer)
    {
        var spec = ModelConfigReader.ReadDirectory(modelDirectory);
        var end = endLayer ?? spec.LayerCount;
        if (firstLayer < 0 || end > spec.LayerCount || firstLayer >= end)
        {
            throw new ArgumentOutOfRangeException(
                nameof(firstLayer),
                $"layer range [{firstLayer}, {end}) is empty or outside the {spec.LayerCount} layers of {modelDirectory}");
        }

        var expected = ModelTensorNames.Expected(spec, firstLayer, end);
        var fileNameOfTensor = LocateTensors(modelDirectory, expected);

        var opened = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var files = new List<SafetensorsFile>();
        var fileOfTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var tensor in expected)
            {
                var fileName = fileNameOfTensor[tensor.Name];
                if (!opened.TryGetValue(fileName, out var file))
                {
                    file = SafetensorsFile.Open(Path.Combine(modelDirectory, fileName));
                    opened.Add(fileName, file);
                    files.Add(file);
                }

                CheckTensor(file, tensor);
                fileOfTensor.Add(tensor.Name, file);
            }
        }
        catch
        {
            foreach (var file in files)
            {
                file.Dispose();
            }

            throw;
        }

        return new SafetensorsModelWeights(spec, firstLayer, end, fileOfTensor, files);
    }

    public bool Contains(string tensorName) => _fileOfTensor.ContainsKey(tensorName);

    public TensorInfo Describe(string tensorName) => FileOf(tensorName).GetTensor(tensorName).Info;

    public ReadOnlySpan<byte> GetBytes(string tensorName) => FileOf(tensorName).GetBytes(tensorName);

    public void ReadAsFloat32(string tensorName, Span<float> destination)
    {
        var file = FileOf(tensorName);
        var info = file.GetTensor(tensorName).Info;
        if (destination.Length != info.ElementCount)
        {
            throw new ArgumentException(
                $"tensor '{tensorName}' has {info.ElementCount} elements but the destination holds {destination.Length}",
                nameof(destination));
        }

        TensorConversion.ToFloat32(info.DType, file.GetBytes(tensorName), destination);
    }

    /// <summary>Reads a whole tensor into a new f32 array.</summary>
    public float[] ReadAsFloat32(string tensorName)
    {
        var values = new float[checked((int)Describe(tensorName).ElementCount)];
        ReadAsFloat32(tensorName, values);
        return values;
    }

    public void Dispose()
    {
        foreach (var file in _files)
        {
            file.Dispose();
        }
    }

    /// <summary>Maps each expected tensor to the file that should hold it, from the index or the single file.</summary>
    private static Dictionary<string, string> LocateTensors(string modelDirectory, IReadOnlyList<ExpectedTensor> expected)
    {
        var indexPath = Path.Combine(modelDirectory, SafetensorsIndex.FileName);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (File.Exists(indexPath))
        {
            var index = SafetensorsIndex.Read(indexPath);
            foreach (var tensor in expected)
            {
                result[tensor.Name] = index.WeightMap.TryGetValue(tensor.Name, out var file)
                    ? file
                    : throw new ModelFormatException(indexPath, tensor.Name, $"is missing from the weight_map (expected shape [{string.Join(", ", tensor.Shape)}])");
            }

            return result;
        }

        var singlePath = Path.Combine(modelDirectory, SafetensorsIndex.SingleFileName);
        if (!File.Exists(singlePath))
        {
            throw new ModelFormatException(
                modelDirectory,
                null,
                $"holds neither {SafetensorsIndex.SingleFileName} nor {SafetensorsIndex.FileName}");
        }

        foreach (var tensor in expected)
        {
            result[tensor.Name] = SafetensorsIndex.SingleFileName;
        }

        return result;
    }

    private static void CheckTensor(SafetensorsFile file, ExpectedTensor expected)
    {
        if (!file.Tensors.TryGetValue(expected.Name, out var actual))
        {
            throw new ModelFormatException(file.FilePath, expected.Name, $"is missing (expected shape [{string.Join(", ", expected.Shape)}])");
        }

        if (!actual.Info.Shape.AsSpan().SequenceEqual(expected.Shape))
        {
            throw new ModelFormatException(
                file.FilePath,
                expected.Name,
                $"has shape [{string.Join(", ", actual.Info.Shape)}] but the config implies [{string.Join(", ", expected.Shape)}]");
        }
    }

    private SafetensorsFile FileOf(string tensorName)
    {
        if (_fileOfTensor.TryGetValue(tensorName, out var file))
        {
            return file;
        }

        var problem = $"is not loaded: this instance serves layers [{FirstLayer}, {EndLayer}) of {Spec.LayerCount}";
        throw new ModelFormatException(_files.Count > 0 ? Path.GetDirectoryName(_files[0].FilePath)! : "model", tensorName, problem);
    }
}
