using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using FastRank.Evaluation.Datasets;
using FastRank.Models;
using FastRank.Tests.Models;

namespace FastRank.Tests.Evaluation;

/// <summary>Datasets by name: a small generated BEIR zip served on loopback, fetched with the models' downloader.</summary>
public sealed class DatasetDownloadTests
{
    private static readonly byte[] Zip = MakeZip("mini", withCorpus: true);

    private static byte[] MakeZip(string name, bool withCorpus)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string path, string text)
            {
                using var w = new StreamWriter(zip.CreateEntry(path).Open(), new UTF8Encoding(false));
                w.Write(text);
            }
            if (withCorpus)
            {
                var corpus = new StringBuilder();
                // Enough text that a dropped connection half way is a real resume.
                for (int i = 0; i < 400; i++) corpus.Append("{\"_id\": \"d").Append(i).Append("\", \"title\": \"Title ").Append(i).Append("\", \"text\": \"document number ").Append(i).Append(" about topic ").Append(i % 7).Append(" with filler text to make it longer\"}\n");
                Add($"{name}/corpus.jsonl", corpus.ToString());
            }
            Add($"{name}/queries.jsonl", "{\"_id\": \"1\", \"text\": \"topic 3\"}\n{\"_id\": \"2\", \"text\": \"document number 5\"}\n");
            Add($"{name}/qrels/test.tsv", "query-id\tcorpus-id\tscore\n1\td3\t1\n2\td5\t2\n");
        }
        return ms.ToArray();
    }

    private static string Md5(byte[] data) => Convert.ToHexStringLower(MD5.HashData(data));

    private static ModelDownloader Downloader(int attempts = 4) =>
        new(new ModelDownloaderOptions { RetryDelay = TimeSpan.FromMilliseconds(10), MaxAttempts = attempts, StallTimeout = TimeSpan.FromSeconds(5) });

    private static BeirDatasets Datasets(ModelDownloader d, LoopbackHttpServer server, string cache, string? md5, bool offline = false) =>
        new(d, cache, server.Url("/beir/"), offline, new Dictionary<string, string?> { ["mini"] = md5 });

    [Fact]
    public async Task ByNameDownloadsUnpacksAndThenServesFromTheCacheWithoutNetwork()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/beir/mini.zip", new ServedFile { Body = Zip });
        string cache = TestModels.TempPath("cache");
        using var downloader = Downloader();
        string dir = await Datasets(downloader, server, cache, Md5(Zip)).ResolveAsync("mini");
        Assert.Equal(Path.Combine(cache, "datasets", "mini"), dir);
        var data = EvalDataset.LoadBeir(dir);
        Assert.Equal(400, data.Corpus.Count);
        Assert.Equal(["1", "2"], data.EvaluationQueries());
        Assert.False(File.Exists(Path.Combine(cache, "datasets", "mini.zip"))); // unpacked, the zip removed

        int before = server.Requests.Count;
        Assert.Equal(dir, await Datasets(downloader, server, cache, Md5(Zip)).ResolveAsync("mini"));
        Assert.Equal(dir, await Datasets(downloader, server, cache, Md5(Zip), offline: true).ResolveAsync("mini"));
        Assert.Equal(before, server.Requests.Count);
    }

    [Fact]
    public async Task OfflineWithoutTheDatasetSaysSoAndTouchesNoNetwork()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/beir/mini.zip", new ServedFile { Body = Zip });
        using var downloader = Downloader();
        var ex = await Assert.ThrowsAsync<DatasetUnavailableException>(() => Datasets(downloader, server, TestModels.TempPath("cache"), null, offline: true).ResolveAsync("mini"));
        Assert.Contains("not in the cache", ex.Message, StringComparison.Ordinal);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task DroppedConnectionResumesAndTheDatasetIsWhole()
    {
        await using var server = new LoopbackHttpServer();
        var file = server.Serve("/beir/mini.zip", new ServedFile { Body = Zip, DropAfterBytes = Zip.Length / 2 });
        using var downloader = Downloader();
        string dir = await Datasets(downloader, server, TestModels.TempPath("cache"), Md5(Zip)).ResolveAsync("mini");
        Assert.Equal(400, EvalDataset.LoadBeir(dir).Corpus.Count);
        Assert.Equal(2, server.Requests.Count);
        Assert.NotNull(server.Requests.Last().Range);
        Assert.Equal(1, file.FullBodies);
    }

    [Fact]
    public async Task WrongChecksumDeletesTheZipAndCachesNothing()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/beir/mini.zip", new ServedFile { Body = Zip });
        string cache = TestModels.TempPath("cache");
        using var downloader = Downloader();
        var ex = await Assert.ThrowsAsync<ChecksumMismatchException>(() => Datasets(downloader, server, cache, new string('0', 32)).ResolveAsync("mini"));
        Assert.Contains(Md5(Zip), ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(cache, "datasets", "mini.zip")));
        Assert.Null(Datasets(downloader, server, cache, null).TryGetCached("mini"));
    }

    [Fact]
    public async Task ArchivesThatAreNotDatasetsAndMissingNamesFailClearly()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/beir/mini.zip", new ServedFile { Body = MakeZip("mini", withCorpus: false) });
        using var downloader = Downloader();
        var noCorpus = await Assert.ThrowsAsync<DatasetUnavailableException>(() => Datasets(downloader, server, TestModels.TempPath("cache"), null).ResolveAsync("mini"));
        Assert.Contains("no corpus.jsonl", noCorpus.Message, StringComparison.Ordinal);

        server.Serve("/beir/mini.zip", new ServedFile { Body = Encoding.ASCII.GetBytes("<html>not a zip</html>") });
        var notZip = await Assert.ThrowsAsync<DatasetUnavailableException>(() => Datasets(downloader, server, TestModels.TempPath("cache"), null).ResolveAsync("mini"));
        Assert.Contains("could not be unpacked", notZip.Message, StringComparison.Ordinal);

        await Assert.ThrowsAsync<ModelNotFoundOnServerException>(() => Datasets(Downloader(1), server, TestModels.TempPath("cache"), null).ResolveAsync("absent"));
        await Assert.ThrowsAsync<DatasetUnavailableException>(() => Datasets(downloader, server, TestModels.TempPath("cache"), null).ResolveAsync("../etc"));
    }

    [Fact]
    public void TheKnownDatasetsCarryBeirsPublishedChecksums()
    {
        foreach (string name in new[] { "scifact", "nfcorpus", "fiqa", "trec-covid" })
        {
            Assert.True(BeirDatasets.Known.TryGetValue(name, out string? md5) && md5 is { Length: 32 } && md5.All(char.IsAsciiHexDigitLower), name);
        }
    }
}
