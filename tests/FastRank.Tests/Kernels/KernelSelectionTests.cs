using FastRank.Kernels;
using Microsoft.Extensions.Logging;

namespace FastRank.Tests.Kernels;

/// <summary>Choosing and reporting implementations: scopes, variants, descriptions, the CUDA probe.</summary>
public sealed class KernelSelectionTests
{
    [Fact]
    public void DescriptionNamesTheActiveImplementationAndCuda()
    {
        string description = RankKernels.Description;
        Assert.Contains(RankKernels.Implementation == KernelImplementation.Native ? "native " : "managed ", description, StringComparison.Ordinal);
        Assert.Contains("cuda: ", description, StringComparison.Ordinal);
        if (!RankKernels.IsNativeAvailable)
            Assert.False(string.IsNullOrEmpty(RankKernels.NativeUnavailableReason));
    }

    [Fact]
    public void ScopesNestAndRestore()
    {
        KernelImplementation outer = RankKernels.Implementation;
        string outerVariant = RankKernels.Variant;
        using (RankKernels.Use(KernelImplementation.Managed, "scalar"))
        {
            Assert.Equal(KernelImplementation.Managed, RankKernels.Implementation);
            Assert.Equal("scalar", RankKernels.Variant);
            if (RankKernels.IsNativeAvailable)
            {
                using (RankKernels.Use(KernelImplementation.Native, "scalar"))
                {
                    Assert.Equal(KernelImplementation.Native, RankKernels.Implementation);
                    Assert.Equal("scalar", RankKernels.Variant);
                }
            }
            Assert.Equal("scalar", RankKernels.Variant);
            Assert.Equal(KernelImplementation.Managed, RankKernels.Implementation);
        }
        Assert.Equal(outer, RankKernels.Implementation);
        Assert.Equal(outerVariant, RankKernels.Variant);
    }

    [Fact]
    public void ScopesAreLocalToTheThread()
    {
        (KernelImplementation, string) processDefault = (RankKernels.Implementation, RankKernels.Variant);
        using (RankKernels.Use(KernelImplementation.Managed, "scalar"))
        {
            (KernelImplementation, string) seen = default;
            var thread = new Thread(() => seen = (RankKernels.Implementation, RankKernels.Variant));
            thread.Start();
            thread.Join();
            Assert.Equal(processDefault, seen);
        }
    }

    [Fact]
    public void BadVariantsAreReported()
    {
        Assert.Throws<ArgumentException>(() => RankKernels.Use(KernelImplementation.Managed, "avx9"));
        if (RankKernels.IsNativeAvailable)
        {
            Assert.Throws<ArgumentException>(() => RankKernels.Use(KernelImplementation.Native, "vector512"));
            string unsupported = OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64 ? "neon" : "avx2";
            Assert.Throws<NotSupportedException>(() => RankKernels.Use(KernelImplementation.Native, unsupported));
            Assert.Equal("scalar", RankKernels.SupportedNativeVariants[0]);
        }
        else
        {
            Assert.Throws<NotSupportedException>(() => RankKernels.Use(KernelImplementation.Native));
        }
        Assert.Equal("scalar", RankKernels.SupportedManagedVariants[0]);
    }

    [Fact]
    public void NativeAndManagedAgreeOnTheBestVariants()
    {
        if (!RankKernels.IsNativeAvailable)
            return;  // built with -p:FastRankNative=false: only the managed path exists
        float[] x = KernelTestSupport.Normal(100_000, 42);
        var managed = new int[50];
        var native = new int[50];
        using (RankKernels.Use(KernelImplementation.Managed))
            RankKernels.TopK(x, 50, managed);
        using (RankKernels.Use(KernelImplementation.Native))
            RankKernels.TopK(x, 50, native);
        Assert.Equal(managed, native);
    }

    [Fact]
    public void LogDescriptionWritesOneInformationLine()
    {
        var logger = new ListLogger();
        RankKernels.LogDescription(logger);
        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Information && l.Text.Contains("FastRank kernels: ", StringComparison.Ordinal));
    }

    [Fact]
    public void CudaIsReportedAndRefusedWithoutADevice()
    {
        Assert.False(string.IsNullOrEmpty(CudaKernels.Description));
        if (CudaKernels.IsAvailable)
        {
            using var acc = new CudaAttentionAccumulator(256);
            var host = new float[256];
            acc.CopyTo(host);
            Assert.All(host, v => Assert.Equal(0f, v));
            return;
        }
        Assert.StartsWith("not available", CudaKernels.Description, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => new CudaAttentionAccumulator(256));
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }
}
