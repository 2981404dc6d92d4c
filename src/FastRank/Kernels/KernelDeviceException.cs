namespace FastRank.Kernels;

/// <summary>A kernel failed on its device (a CUDA error, or an unknown native status).</summary>
public sealed class KernelDeviceException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public KernelDeviceException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    public KernelDeviceException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception without a message.</summary>
    public KernelDeviceException() { }
}
