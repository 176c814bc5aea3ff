using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Cli.Commands;

/// <summary>
/// How every command turns an error the user can fix into one line on stderr and an exit code,
/// instead of a stack trace: 2 for a wrong use of the command, 1 for bad input files or settings.
/// Anything else is a bug and propagates.
/// </summary>
internal static class CommandErrors
{
    public const int BadInput = 1;

    public const int BadUsage = 2;

    public static int Run(Action body) => Run(() =>
    {
        body();
        return 0;
    });

    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            return Report(e);
        }
    }

    public static bool IsUserError(Exception e)
        => e is CommandUsageException or PatternConfigException or ModelFormatException
            or IOException or UnauthorizedAccessException or ArgumentException;

    public static int Report(Exception e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return e is CommandUsageException ? BadUsage : BadInput;
    }
}

/// <summary>The command was used wrongly (e.g. a non-empty output directory without --force).</summary>
internal sealed class CommandUsageException(string message) : Exception(message);
