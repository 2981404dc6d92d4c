using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace FastRank.Tests.Server;

/// <summary>
/// <c>fastrank serve</c> as its own process, stopped the way Kubernetes and systemd stop it: SIGTERM. The request in
/// flight finishes with all its scores, then the process exits 0 and the port is closed.
/// </summary>
public sealed class ProcessSignalTests
{
    [Fact]
    public async Task Sigterm_FinishesTheRequestInFlight_ThenTheProcessExitsZero()
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "FastRank.Cli.dll"), "serve", "--model", $"tiny={TestModels.Tiny}",
            "--port", "0", "--threads", "1", "--offline", "--cache-dir", TestModels.TempPath("cache") })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start");
        var stderr = new StringBuilder();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            const string marker = "fastrank serve: listening on ";
            if (e.Data.StartsWith(marker, StringComparison.Ordinal)) listening.TrySetResult(new Uri(e.Data[marker.Length..].Trim()));
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            var started = await Task.WhenAny(listening.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(2)));
            Assert.True(started == listening.Task, $"the server did not start: {stderr}");
            using var client = new HttpClient { BaseAddress = await listening.Task, Timeout = TimeSpan.FromMinutes(2) };
            while ((await client.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK) await Task.Delay(20);

            var documents = Enumerable.Range(0, 150).Select(i => string.Join(' ', Enumerable.Repeat($"word{i % 97} text", 100))).ToArray();
            var body = new StringContent(JsonSerializer.Serialize(new { model = "tiny", query = "a long running request", documents }), Encoding.UTF8, "application/json");
            var inFlight = client.PostAsync("/v1/rerank", body);
            // Admitted (the queue-depth gauge counts it) before the signal.
            while (!(await client.GetStringAsync("/metrics")).Contains("\nfastrank_queue_depth 1", StringComparison.Ordinal)) await Task.Delay(5);
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();

            using (var response = await inFlight)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.Equal(150, json.RootElement.GetProperty("results").GetArrayLength());
            }
            using (var exited = new CancellationTokenSource(TimeSpan.FromMinutes(1))) await process.WaitForExitAsync(exited.Token);
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}: {stderr}");
            await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/health"));
            lock (stderr) Assert.DoesNotContain("Unhandled exception", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
