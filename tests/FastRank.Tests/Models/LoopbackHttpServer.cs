using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastRank.Tests.Models;

/// <summary>What the loopback server does for one path.</summary>
public sealed class ServedFile
{
    public byte[] Body { get; init; } = [];

    /// <summary>Answer with this status and no body (404, 401, 500, ...); 0: serve the body.</summary>
    public int Status { get; init; }

    /// <summary>Answer 302 to this path or absolute URL.</summary>
    public string? RedirectTo { get; init; }

    /// <summary>Header <c>X-Linked-Etag</c> (quoted), as Hugging Face sends for LFS files.</summary>
    public string? LinkedEtag { get; init; }

    /// <summary>Header <c>X-Linked-Size</c>.</summary>
    public long? LinkedSize { get; init; }

    /// <summary>Header <c>ETag</c> (quoted).</summary>
    public string? ETag { get; init; }

    /// <summary>Answer 200 with the whole body even when a Range is asked for.</summary>
    public bool IgnoreRange { get; init; }

    /// <summary>Close the connection after this many body bytes, for the first <see cref="DropTimes"/> responses.</summary>
    public long? DropAfterBytes { get; init; }

    public int DropTimes { get; init; } = 1;

    /// <summary>Send this many body bytes of every response, then nothing more (until the server is disposed).</summary>
    public long? StallAfterBytes { get; init; }

    /// <summary>Answer only once this task completes (the request is recorded at once).</summary>
    public Task? HoldUntil { get; init; }

    /// <summary>Throttle the body to this rate (0: as fast as possible).</summary>
    public int BytesPerSecond { get; init; }

    private int _hits;
    private int _bodies;
    private int _drops;

    /// <summary>Requests answered.</summary>
    public int Hits => Volatile.Read(ref _hits);

    /// <summary>Responses that started sending the body from byte 0 (full downloads begun).</summary>
    public int FullBodies => Volatile.Read(ref _bodies);

    internal void Hit() => Interlocked.Increment(ref _hits);

    internal void FullBody() => Interlocked.Increment(ref _bodies);

    internal bool TakeDrop() => Interlocked.Increment(ref _drops) <= DropTimes;
}

/// <summary>A request the server saw.</summary>
public sealed record RecordedRequest(string Method, string Path, string Host, string? Range, string? Authorization);

/// <summary>
/// A small HTTP/1.1 server on 127.0.0.1 (a TcpListener, one response per connection) that serves byte
/// arrays with the behaviours a download must survive: ranges (or not), redirects with Hugging Face's
/// headers, dropped connections, stalls, throttling, error statuses. Real sockets, no mocks.
/// </summary>
public sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, ServedFile> _routes = new(StringComparer.Ordinal);
    private readonly Task _accept;

    public LoopbackHttpServer()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accept = Task.Run(AcceptLoop);
    }

    public int Port { get; }

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>http://127.0.0.1:PORT/path.</summary>
    public Uri Url(string path) => new($"http://127.0.0.1:{Port}{path}");

    /// <summary>The same server under another host name (http://localhost:PORT/path), to test what crosses hosts.</summary>
    public Uri OtherHostUrl(string path) => new($"http://localhost:{Port}{path}");

    public ServedFile Serve(string path, ServedFile file)
    {
        _routes[path] = file;
        return file;
    }

    public int CountRequests(string path) => Requests.Count(r => r.Path == path);

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var request = await ReadRequestAsync(stream);
            if (request is null) return;
            Requests.Enqueue(request);
            string path = request.Path.Split('?')[0];
            if (!_routes.TryGetValue(path, out var file))
            {
                await WriteHeadAsync(stream, 404, "Not Found", [("Content-Length", "0")]);
                return;
            }
            file.Hit();
            if (file.HoldUntil is { } hold) await hold.WaitAsync(_stop.Token);
            var headers = new List<(string, string)>();
            if (file.LinkedEtag is { } le) headers.Add(("X-Linked-Etag", $"\"{le}\""));
            if (file.LinkedSize is { } ls) headers.Add(("X-Linked-Size", ls.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (file.ETag is { } et) headers.Add(("ETag", $"\"{et}\""));
            if (file.RedirectTo is { } to)
            {
                headers.Add(("Location", to));
                headers.Add(("Content-Length", "0"));
                await WriteHeadAsync(stream, 302, "Found", headers);
                return;
            }
            if (file.Status != 0)
            {
                headers.Add(("Content-Length", "0"));
                await WriteHeadAsync(stream, file.Status, "Error", headers);
                return;
            }
            long length = file.Body.Length;
            long start = 0;
            if (request.Range is { } range && !file.IgnoreRange && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
            {
                start = long.Parse(range[6..^1], System.Globalization.CultureInfo.InvariantCulture);
                if (start >= length)
                {
                    headers.Add(("Content-Range", $"bytes */{length}"));
                    headers.Add(("Content-Length", "0"));
                    await WriteHeadAsync(stream, 416, "Range Not Satisfiable", headers);
                    return;
                }
                headers.Add(("Content-Range", $"bytes {start}-{length - 1}/{length}"));
                headers.Add(("Content-Length", (length - start).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                await WriteHeadAsync(stream, 206, "Partial Content", headers);
            }
            else
            {
                headers.Add(("Content-Length", length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                await WriteHeadAsync(stream, 200, "OK", headers);
            }
            if (start == 0) file.FullBody();
            long limit = length;
            bool drop = false;
            if (file.DropAfterBytes is { } d && start < d && file.TakeDrop())
            {
                limit = d;
                drop = true;
            }
            if (file.StallAfterBytes is { } s) limit = Math.Min(limit, start + s);
            const int chunk = 64 * 1024;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long sent = 0;
            for (long pos = start; pos < limit; pos += chunk)
            {
                int n = (int)Math.Min(chunk, limit - pos);
                await stream.WriteAsync(file.Body.AsMemory((int)pos, n), _stop.Token);
                sent += n;
                if (file.BytesPerSecond > 0)
                {
                    double due = sent / (double)file.BytesPerSecond;
                    double wait = due - clock.Elapsed.TotalSeconds;
                    if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait), _stop.Token);
                }
            }
            await stream.FlushAsync(_stop.Token);
            if (drop)
            {
                client.Client.LingerState = new LingerOption(true, 0); // reset: the client sees the body end early
                return;
            }
            if (file.StallAfterBytes is not null && limit < length)
            {
                await Task.Delay(TimeSpan.FromSeconds(30), _stop.Token); // stalls; the server stops by itself
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private static async Task<RecordedRequest?> ReadRequestAsync(NetworkStream stream)
    {
        var buffer = new byte[16 * 1024];
        int used = 0;
        while (used < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(used));
            if (n == 0) return null;
            used += n;
            string text = Encoding.ASCII.GetString(buffer, 0, used);
            int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            var lines = text[..end].Split("\r\n");
            var first = lines[0].Split(' ');
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (string line in lines.Skip(1))
            {
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
            return new RecordedRequest(first[0], first[1], headers.GetValueOrDefault("Host") ?? "", headers.GetValueOrDefault("Range"), headers.GetValueOrDefault("Authorization"));
        }
        return null;
    }

    private static async Task WriteHeadAsync(NetworkStream stream, int status, string reason, List<(string Name, string Value)> headers)
    {
        var sb = new StringBuilder();
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\n");
        foreach (var (name, value) in headers) sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        sb.Append("Connection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accept;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
