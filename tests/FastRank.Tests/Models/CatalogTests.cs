using System.Text;
using FastRank.Models;
using FastRank.Ranking;

namespace FastRank.Tests.Models;

public sealed class CatalogTests
{
    private static ModelCatalog Parse(string json) => ModelCatalog.Parse(new MemoryStream(Encoding.UTF8.GetBytes(json)), "test.json");

    [Fact]
    public void Builtin_DefaultsToTheOfficialQwen3Reranker_AndHasAnInstructModelForFirstAndIcr()
    {
        var c = ModelCatalog.Builtin;
        Assert.Equal("qwen3-reranker-0.6b", c.Default.Name);
        Assert.Equal("ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF", c.Default.Repo);
        Assert.Equal("qwen3-reranker-0.6b-q8_0.gguf", c.Default.File);
        Assert.Equal(RerankMethod.Pointwise, c.Default.DefaultMethod!.Kind);
        Assert.Contains(c.Entries, e => e.Kind == "instruct" && e.Methods.Any(m => m.Method == "first") && e.Methods.Any(m => m.Method == "icr"));
        Assert.All(c.Entries, e =>
        {
            Assert.True(e.Sha256 is null || ModelDownloader.IsSha256(e.Sha256));
            Assert.NotNull(e.License);
            Assert.NotNull(e.Quantization);
        });
    }

    [Fact]
    public void TheEmbeddedCatalog_IsTheRepositoryFile()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "FastRank.sln"))) root = Path.GetDirectoryName(root);
        Assert.NotNull(root);
        string repoFile = Path.Combine(root, "models", "catalog.json");
        Assert.True(File.Exists(repoFile), repoFile);
        var fromFile = ModelCatalog.Load(repoFile);
        Assert.Equal(fromFile.Names, ModelCatalog.Builtin.Names);
        Assert.Equal(fromFile.Entries.Select(e => e.HfReference), ModelCatalog.Builtin.Entries.Select(e => e.HfReference));
    }

    [Fact]
    public void UserCatalog_AddsAndReplacesModels_AndMayNameTheDefault()
    {
        var user = Parse("""
            {"version": 1, "default": "mine", "models": [
              {"name": "mine", "repo": "me/models", "file": "m.gguf", "methods": [{"method": "pointwise", "instruction": "Judge relevance"}]},
              {"name": "qwen3-reranker-0.6b", "repo": "me/fork", "file": "q.gguf", "methods": [{"method": "pointwise"}]}
            ]}
            """);
        var merged = ModelCatalog.Builtin.Merge(user);
        Assert.Equal("mine", merged.Default.Name);
        Assert.True(merged.TryGet("qwen3-reranker-0.6b", out var replaced));
        Assert.Equal("me/fork", replaced.Repo);
        Assert.True(merged.TryGet("LLAMA-3.2-1B-INSTRUCT", out _)); // names are case-insensitive
        Assert.Equal(ModelCatalog.Builtin.Entries.Count + 1, merged.Entries.Count);

        var options = merged.Default.ApplyTo(new RerankerOptions());
        Assert.Equal("Judge relevance", options.Instruction);
        Assert.Equal("Mine", merged.Default.ApplyTo(new RerankerOptions { Instruction = "Mine" }).Instruction); // the caller's setting wins
    }

    [Fact]
    public void ListwiseSettingsOfTheCatalogReachFirstOptions()
    {
        Assert.True(ModelCatalog.Builtin.TryGet("llama-3.2-1b-instruct", out var entry));
        var options = entry.ApplyTo(new RerankerOptions());
        Assert.Equal(RerankMethod.First, options.Method);
        Assert.Equal("llama3", options.First.ChatLayout);
        Assert.Equal(ListwiseIdentifiers.Letters, options.First.Identifiers);
        Assert.Equal(20, options.First.WindowSize);
        // The caller's own layout wins over the catalog's.
        var mine = entry.ApplyTo(new RerankerOptions { First = new FirstOptions { ChatLayout = "chatml" } });
        Assert.Equal("chatml", mine.First.ChatLayout);
        Assert.True(RerankMethodNames.TryParse("listwise-generate", out var m) && m == RerankMethod.ListwiseGenerate);
        Assert.Equal("listwise-generate", RerankMethodNames.Name(RerankMethod.ListwiseGenerate));
    }

    [Fact]
    public void UserCatalogFile_IsReadFromThePathGiven()
    {
        string path = TestModels.TempPath("catalog.json");
        File.WriteAllText(path, """{"version": 1, "models": [{"name": "x", "repo": "a/b", "file": "c.gguf", "methods": [{"method": "first"}]}]}""");
        var c = ModelCatalog.LoadDefault(path);
        Assert.True(c.TryGet("x", out var x));
        Assert.Equal("first", x.DefaultMethod!.Method);
        Assert.Equal("qwen3-reranker-0.6b", ModelCatalog.Builtin.Default.Name);
        Assert.Throws<FileNotFoundException>(() => ModelCatalog.LoadDefault(TestModels.TempPath("missing.json")));
    }

    [Theory]
    [InlineData("not json", "not a valid catalog")]
    [InlineData("""{"version": 2, "models": []}""", "unsupported catalog version")]
    [InlineData("""{"version": 1, "models": []}""", "empty")]
    [InlineData("""{"version": 1, "models": [{"name": "a", "repo": "x/y", "file": "f.gguf", "methods": [{"method": "pointwise"}]}, {"name": "A", "repo": "x/y", "file": "f.gguf", "methods": [{"method": "pointwise"}]}]}""", "listed twice")]
    [InlineData("""{"version": 1, "default": "b", "models": [{"name": "a", "repo": "x/y", "file": "f.gguf", "methods": [{"method": "pointwise"}]}]}""", "default model 'b'")]
    [InlineData("""{"version": 1, "models": [{"name": "a", "repo": "x", "file": "f.gguf", "methods": [{"method": "pointwise"}]}]}""", "owner/name")]
    [InlineData("""{"version": 1, "models": [{"name": "a", "repo": "x/y", "file": "../f.gguf", "methods": [{"method": "pointwise"}]}]}""", "relative path")]
    [InlineData("""{"version": 1, "models": [{"name": "a", "repo": "x/y", "file": "f.bin", "methods": [{"method": "pointwise"}]}]}""", "relative path")]
    [InlineData("""{"version": 1, "models": [{"name": "a", "repo": "x/y", "file": "f.gguf", "sha256": "abc", "methods": [{"method": "pointwise"}]}]}""", "64 hexadecimal")]
    [InlineData("""{"version": 1, "models": [{"name": "a", "repo": "x/y", "file": "f.gguf", "methods": []}]}""", "no methods")]
    [InlineData("""{"version": 1, "models": [{"name": "a b", "repo": "x/y", "file": "f.gguf", "methods": [{"method": "pointwise"}]}]}""", "letters, digits")]
    [InlineData("""{"version": 1, "models": [{"repo": "x/y", "file": "f.gguf", "methods": [{"method": "pointwise"}]}]}""", "not a valid catalog")]
    public void InvalidCatalogs_AreRejectedWithTheReason(string json, string reason)
    {
        var ex = Assert.Throws<CatalogFormatException>(() => Parse(json));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("test.json", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class ModelReferenceTests
{
    private static readonly ModelCatalog Catalog = ModelCatalog.Builtin;

    [Fact]
    public void ExistingFile_IsAFile()
    {
        var r = ModelReference.Parse(TestModels.Tiny, Catalog);
        Assert.Equal(ModelSourceKind.File, r.Kind);
        Assert.Equal(Path.GetFullPath(TestModels.Tiny), r.FilePath);
        Assert.False(r.IsRemote);
    }

    [Fact]
    public void CatalogName_PointsAtItsRepositoryFile()
    {
        var r = ModelReference.Parse("qwen3-reranker-0.6b", Catalog);
        Assert.Equal(ModelSourceKind.Catalog, r.Kind);
        Assert.Equal(new Uri("https://huggingface.co/ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF/resolve/main/qwen3-reranker-0.6b-q8_0.gguf"),
            r.DownloadUri(ModelResolver.DefaultEndpoint));
    }

    [Theory]
    [InlineData("hf://owner/repo/file.gguf", "owner/repo", "file.gguf", "main")]
    [InlineData("hf://owner/repo@v1.2/sub/dir/file.GGUF", "owner/repo", "sub/dir/file.GGUF", "v1.2")]
    [InlineData("HF://Org-1/Repo_2.x/model-Q4_K_M.gguf", "Org-1/Repo_2.x", "model-Q4_K_M.gguf", "main")]
    public void HuggingFaceReferences_Parse(string text, string repo, string file, string revision)
    {
        var r = ModelReference.Parse(text, Catalog);
        Assert.Equal((ModelSourceKind.HuggingFace, repo, file, revision), (r.Kind, r.Repo, r.RepoFile, r.Revision));
        Assert.EndsWith($"/{repo}/resolve/{revision}/{file}", r.DownloadUri(new Uri("https://mirror.example/hf/")).AbsoluteUri, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hf://owner")]
    [InlineData("hf://owner/repo")]
    [InlineData("hf://owner/repo/file.bin")]
    [InlineData("hf://owner/../file.gguf")]
    [InlineData("hf://owner/repo/../../etc/x.gguf")]
    [InlineData("hf://owner/repo@../x/file.gguf")]
    [InlineData("hf://own er/repo/file.gguf")]
    [InlineData("https://user:pass@example.com/m.gguf")]
    public void MalformedReferences_AreArgumentErrors(string text) =>
        Assert.Throws<ArgumentException>(() => ModelReference.Parse(text, Catalog));

    [Fact]
    public void Url_KeepsItsQuery_ButDisplaysWithout()
    {
        var r = ModelReference.Parse("https://example.com/models/m.gguf?token=abc", Catalog);
        Assert.Equal(ModelSourceKind.Url, r.Kind);
        Assert.Equal("https://example.com/models/m.gguf", r.DisplayName);
    }

    [Fact]
    public void MissingPath_IsFileNotFound_AndUnknownName_ListsTheCatalog()
    {
        Assert.Throws<FileNotFoundException>(() => ModelReference.Parse("/no/such/model.gguf", Catalog));
        Assert.Throws<FileNotFoundException>(() => ModelReference.Parse("model.gguf", Catalog));
        var ex = Assert.Throws<UnknownModelException>(() => ModelReference.Parse("no-such-model", Catalog));
        Assert.Contains("qwen3-reranker-0.6b", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class ModelCacheTests
{
    [Fact]
    public void Directory_FollowsFastRankCache_ThenXdg_ThenHome()
    {
        Assert.Equal("/x/cache", ModelCache.DefaultDirectory(v => v == "FASTRANK_CACHE" ? "/x/cache" : v == "XDG_CACHE_HOME" ? "/xdg" : null));
        Assert.Equal("/xdg/fastrank", ModelCache.DefaultDirectory(v => v == "XDG_CACHE_HOME" ? "/xdg" : null));
        Assert.EndsWith(Path.Combine(".cache", "fastrank"), ModelCache.DefaultDirectory(_ => null), StringComparison.Ordinal);
    }

    [Fact]
    public void Paths_StayInsideTheCache()
    {
        var cache = new ModelCache(TestModels.TempPath("c"));
        var hf = ModelReference.Parse("hf://a/b@dev/x/y.gguf", ModelCatalog.Builtin);
        Assert.Equal(Path.Combine(cache.Directory, "hf", "a", "b@dev", "x", "y.gguf"), cache.PathFor(hf));
        var url = ModelReference.Parse("https://example.com:8443/../../weird name.gguf?x=1", ModelCatalog.Builtin);
        string p = cache.PathFor(url);
        Assert.StartsWith(Path.Combine(cache.Directory, "url", "example.com_8443"), p, StringComparison.Ordinal);
        Assert.Equal("weird_name.gguf", Path.GetFileName(p));
    }

    [Fact]
    public void Remove_DeletesTheFileAndItsCompanions_AndEmptyFolders_ButNeverLocalFiles()
    {
        var cache = new ModelCache(TestModels.TempPath("c"));
        var r = ModelReference.Parse("hf://a/b/m.gguf", ModelCatalog.Builtin);
        string path = cache.PathFor(r);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "x");
        File.WriteAllText(path + ".meta.json", "{}");
        File.WriteAllText(path + ".lock", "1");
        Assert.Single(cache.List());
        Assert.True(cache.Remove(r));
        Assert.False(File.Exists(path));
        Assert.False(Directory.Exists(Path.Combine(cache.Directory, "hf", "a")));
        Assert.False(cache.Remove(r));
        Assert.Throws<InvalidOperationException>(() => cache.Remove(ModelReference.FromFile(TestModels.Tiny)));
        Assert.True(File.Exists(TestModels.Tiny));
    }
}
