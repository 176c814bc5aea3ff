using Microsoft.Extensions.Configuration;

namespace MInference.Silo.Hosting;

/// <summary>Reads and validates the silo's settings before anything starts; every failure names its setting.</summary>
public static class SiloSettingsLoader
{
    /// <summary>False with the reasons when a value does not convert (<c>Clustering=Bogus</c>) or fails validation.</summary>
    public static bool TryLoad(IConfiguration configuration, out MInferenceSiloOptions settings, out IReadOnlyList<string> failures)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        try
        {
            settings = configuration.GetSection(MInferenceSiloOptions.SectionName).Get<MInferenceSiloOptions>() ?? new MInferenceSiloOptions();
        }
        catch (InvalidOperationException e)
        {
            // The binder's message names the path and the value: "Failed to convert configuration value 'Bogus' at 'MInference:Clustering' ...".
            settings = new MInferenceSiloOptions();
            failures = [e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message];
            return false;
        }

        var validation = new MInferenceSiloOptionsValidator().Validate(null, settings);
        failures = validation.Failed ? [.. validation.Failures] : [];
        return !validation.Failed;
    }
}
