using FastRank.Fuzz;
using FastRank.Gguf;

namespace FastRank.Tests.Reliability;

/// <summary>
/// <see cref="GgufLoadProbe"/>: a first load in a child process, its verdict cached by content hash. The child is
/// FastRank.Fuzz's <c>selfprobe</c> (the host re-entered through <see cref="GgufLoadProbe.RunChild"/>), or a process
/// that dies by SIGABRT as llama.cpp's asserts do.
/// </summary>
public sealed class GgufLoadProbeTests
{
    private static GgufLoadProbe SelfProbe(string cache)
    {
        string stem = typeof(GgufLoadProbeTests).Assembly.Location[..^".dll".Length];
        return new GgufLoadProbe(cache, "dotnet",
            ["exec", "--depsfile", stem + ".deps.json", "--runtimeconfig", stem + ".runtimeconfig.json",
             typeof(GgufMutator).Assembly.Location, "selfprobe", "{file}"]);
    }

    private static string Micro()
    {
        string path = TestModels.TempPath("micro.gguf");
        FuzzSeeds.Write("micro-llama", path);
        return path;
    }

    [Fact]
    public void ValidFileLoadsInAChildOnce_ThenTheCachedVerdictServesEveryCopy()
    {
        string cache = TestModels.TempPath("probe-cache");
        var probe = SelfProbe(cache);
        string model = Micro();
        probe.Verify(model);
        Assert.Equal(1, probe.ChildRuns);
        string copy = TestModels.TempPath("copy.gguf");
        File.Copy(model, copy);
        probe.Verify(copy);
        probe.Verify(model);
        Assert.Equal(1, probe.ChildRuns); // same content: no second child
        Assert.Contains("loads", File.ReadAllText(Assert.Single(Directory.GetFiles(cache))), StringComparison.Ordinal);
    }

    [Fact]
    public void ChildKilledBySigabrt_IsATypedLoadError_AndStaysRefused()
    {
        string cache = TestModels.TempPath("probe-cache");
        string model = Micro();
        var aborting = new GgufLoadProbe(cache, "/bin/sh", ["-c", "kill -ABRT $$", "sh", "{file}"]);
        var ex = Assert.Throws<ModelLoadException>(() => aborting.Verify(model));
        Assert.Contains("exit 134", ex.Message, StringComparison.Ordinal);

        var harmless = new GgufLoadProbe(cache, "/bin/true", ["{file}"]);
        Assert.Throws<ModelLoadException>(() => harmless.Verify(model)); // the cached verdict, not a new child
        Assert.Equal(0, harmless.ChildRuns);
    }

    [Fact]
    public void TypedRefusalInTheChild_IsNotACrash()
    {
        string cache = TestModels.TempPath("probe-cache");
        var probe = SelfProbe(cache);
        string path = TestModels.TempPath("text.gguf");
        File.WriteAllText(path, "not a model, but long enough to hold a GGUF header and more");
        probe.Verify(path); // the child answered with a GgufFormatException: the in-process load will say the same
        Assert.Contains("refused", File.ReadAllText(Assert.Single(Directory.GetFiles(cache))), StringComparison.Ordinal);
    }
}
