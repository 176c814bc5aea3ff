namespace MInference.DataPlane;

/// <summary>
/// Names the machine (kernel instance) this process runs on, so a listener can tell whether a receiver
/// shares its GPUs' host. Linux: the kernel's boot id, which every container on one host shares and no two
/// hosts do (a machine id can be baked into an image and repeat across hosts); elsewhere the machine name.
/// </summary>
public static class HostIdentity
{
    /// <summary>Longest identity the wire carries (one length byte, ASCII).</summary>
    public const int MaxLength = 128;

    private const string BootIdPath = "/proc/sys/kernel/random/boot_id";

    private static readonly Lazy<string> _current = new(Compute);

    /// <summary>This host's identity ("boot:&lt;uuid&gt;" or "name:&lt;machine name&gt;").</summary>
    public static string Current => _current.Value;

    /// <summary>The identity <paramref name="options"/> set (tests, unusual hosts), else <see cref="Current"/>.</summary>
    public static string Of(DataPlaneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return string.IsNullOrEmpty(options.HostId) ? Current : options.HostId;
    }

    private static string Compute()
    {
        try
        {
            if (File.Exists(BootIdPath))
            {
                var bootId = File.ReadAllText(BootIdPath).Trim();
                if (bootId.Length > 0)
                {
                    return Clip("boot:" + bootId);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Fall through to the machine name: a wrong "same host" only costs a failed IPC open and the TCP fallback.
        }

        return Clip("name:" + Environment.MachineName);
    }

    private static string Clip(string identity)
    {
        var ascii = new string([.. identity.Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        return ascii.Length <= MaxLength ? ascii : ascii[..MaxLength];
    }
}
