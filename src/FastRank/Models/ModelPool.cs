using System.Diagnostics;
using FastRank.Ranking;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastRank.Models;

/// <summary>Settings of a <see cref="ModelPool"/>.</summary>
public sealed record ModelPoolOptions
{
    /// <summary>
    /// Memory the loaded models may take together: each counts its file size (weights) plus its KV cache.
    /// Checked before a load against the file size, and again after it with the KV cache. Default: half
    /// of the memory available to the process.
    /// </summary>
    public long MemoryBudgetBytes { get; init; } = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;

    /// <summary>Run one tiny rerank after each load so the first real request pays no first-decode costs.</summary>
    public bool WarmUp { get; init; } = true;

    /// <summary>How long a load waits for busy models to become idle (and evictable) before it fails.</summary>
    public TimeSpan BudgetWaitTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Reranker options of models registered without their own.</summary>
    public RerankerOptions RerankerOptions { get; init; } = new();

    /// <summary>Where the pool logs loads, swaps, evictions and frees (and the default logger of the rerankers).</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>The state of one name in the pool.</summary>
/// <param name="Name">The name.</param>
/// <param name="Reference">The model reference behind it.</param>
/// <param name="Pinned">Never evicted.</param>
/// <param name="Loaded">Whether a version is loaded.</param>
/// <param name="Version">The current version (1 for the first load; each swap or reload adds one); 0 before the first load.</param>
/// <param name="Path">The current version's file.</param>
/// <param name="MemoryBytes">The current version's accounted memory (file + KV cache).</param>
/// <param name="ActiveLeases">Requests holding the current version.</param>
/// <param name="RetiredVersions">Older versions still finishing requests.</param>
/// <param name="LastUsedUtc">When a request last acquired it.</param>
public sealed record PoolModelInfo(string Name, string Reference, bool Pinned, bool Loaded, int Version, string? Path, long MemoryBytes,
    int ActiveLeases, int RetiredVersions, DateTimeOffset? LastUsedUtc);

/// <summary>What a swap did.</summary>
/// <param name="Name">The name swapped.</param>
/// <param name="OldVersion">The version replaced (null when nothing was loaded).</param>
/// <param name="NewVersion">The version now served.</param>
/// <param name="Path">The new version's file.</param>
/// <param name="LoadTime">Resolve, load and warm-up of the new version (the old one served meanwhile).</param>
public sealed record SwapResult(string Name, int? OldVersion, int NewVersion, string Path, TimeSpan LoadTime);

/// <summary>
/// A request's hold on one loaded model version. While any lease holds a version it stays loaded,
/// even after a swap replaced it or an eviction was asked for; dispose the lease when the request ends.
/// </summary>
public sealed class ModelLease : IDisposable
{
    private readonly ModelPool _pool;
    private readonly ModelPool.LoadedVersion _version;
    private int _disposed;

    internal ModelLease(ModelPool pool, ModelPool.LoadedVersion version)
    {
        _pool = pool;
        _version = version;
    }

    /// <summary>The pool name.</summary>
    public string Name => _version.Name;

    /// <summary>The version held.</summary>
    public int Version => _version.Version;

    /// <summary>The model file.</summary>
    public string ModelPath => _version.Path;

    /// <summary>The reranker of this version (do not use it after disposing the lease).</summary>
    public Reranker Reranker
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _version.Reranker;
        }
    }

    /// <summary>Reranks on this version with its configured method.</summary>
    public Task<RerankResult> RerankAsync(string query, IReadOnlyList<string> documents, int? topN = null, CancellationToken ct = default) =>
        Reranker.RerankAsync(query, documents, topN, ct);

    /// <summary>Releases the hold; the version is freed if it was retired and this was its last request.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _pool.Release(_version);
    }
}

/// <summary>
/// Several rerankers under names, loaded on first use within a memory budget (least recently used
/// idle models are evicted; pinned ones never), each replaceable while it serves (hot swap: requests
/// that started on the old version finish on it, new requests get the new one, the old one is freed
/// when its last request ends). Thread-safe.
/// </summary>
/// <example>
/// <code>
/// await using var pool = new ModelPool(new ModelResolver());
/// pool.Register("default", "qwen3-reranker-0.6b", pinned: true);
/// var result = await pool.RerankAsync("default", "what is a llama?", documents);
/// await pool.SwapAsync("default", "/models/reranker-v2.gguf");
/// </code>
/// </example>
public sealed class ModelPool : IDisposable, IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private readonly List<LoadedVersion> _retired = [];
    private readonly ModelResolver _resolver;
    private readonly bool _ownsResolver;
    private readonly ModelPoolOptions _options;
    private readonly ILogger _logger;
    private TaskCompletionSource _released = NewSignal();
    private long _useCounter;
    private long _loads;
    private long _swaps;
    private long _evictions;
    private bool _disposed;

    /// <summary>A pool that resolves references with <paramref name="resolver"/> (not disposed with the pool).</summary>
    public ModelPool(ModelResolver resolver, ModelPoolOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        _resolver = resolver;
        _options = options ?? new ModelPoolOptions();
        if (_options.MemoryBudgetBytes <= 0) throw new ArgumentOutOfRangeException(nameof(options), "MemoryBudgetBytes must be positive");
        _logger = _options.LoggerFactory?.CreateLogger<ModelPool>() ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>A pool with a resolver of default settings (environment, ~/.cache/fastrank), owned by the pool.</summary>
    public ModelPool(ModelPoolOptions? options = null)
        : this(new ModelResolver(new ModelResolverOptions { LoggerFactory = options?.LoggerFactory }), options)
    {
        _ownsResolver = true;
    }

    /// <summary>The resolver that turns references into files.</summary>
    public ModelResolver Resolver => _resolver;

    /// <summary>The memory budget.</summary>
    public long MemoryBudgetBytes => _options.MemoryBudgetBytes;

    /// <summary>Memory accounted to loaded versions, retired ones still finishing requests included.</summary>
    public long LoadedBytes
    {
        get
        {
            lock (_lock) return LoadedBytesLocked();
        }
    }

    /// <summary>Model versions loaded since the pool was created (first loads, reloads and swaps).</summary>
    public long Loads => Interlocked.Read(ref _loads);

    /// <summary>Completed swaps since the pool was created.</summary>
    public long Swaps => Interlocked.Read(ref _swaps);

    /// <summary>Models evicted to make room for others since the pool was created.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>The registered names.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_lock) return [.. _slots.Keys];
        }
    }

    /// <summary>
    /// Registers <paramref name="reference"/> (a path, catalog name, hf:// reference or URL) under
    /// <paramref name="name"/>. Nothing is loaded until the first request (or <see cref="LoadAsync"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The name is taken (use <see cref="SwapAsync"/> to replace a model).</exception>
    public void Register(string name, string reference, RerankerOptions? options = null, bool pinned = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        options?.Validate();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_slots.ContainsKey(name)) throw new ArgumentException($"a model named '{name}' is already registered; use SwapAsync to replace it", nameof(name));
            _slots[name] = new Slot(name, reference, options, pinned);
        }
    }

    /// <summary>Removes <paramref name="name"/>; its model is freed once its requests end.</summary>
    public bool Unregister(string name)
    {
        LoadedVersion? free;
        lock (_lock)
        {
            if (!_slots.Remove(name, out var slot)) return false;
            free = RetireLocked(slot);
        }
        Free(free, "unregistered");
        return true;
    }

    /// <summary>Pins (never evicted) or unpins a model.</summary>
    public void SetPinned(string name, bool pinned)
    {
        lock (_lock) SlotLocked(name).Pinned = pinned;
    }

    /// <summary>The state of every name.</summary>
    public IReadOnlyList<PoolModelInfo> Snapshot()
    {
        lock (_lock)
        {
            return [.. _slots.Values.Select(s => new PoolModelInfo(s.Name, s.Reference, s.Pinned, s.Current is not null, s.Current?.Version ?? 0,
                s.Current?.Path, s.Current?.Bytes ?? 0, s.Current?.Leases ?? 0, _retired.Count(r => r.Name == s.Name),
                s.LastUsedTicks == 0 ? null : new DateTimeOffset(s.LastUsedTicks, TimeSpan.Zero)))];
        }
    }

    /// <summary>A hold on the current version of <paramref name="name"/>, loading it first if needed.</summary>
    /// <exception cref="ModelNotRegisteredException">No such name.</exception>
    /// <exception cref="PoolBudgetExceededException">The model cannot fit the budget.</exception>
    public async Task<ModelLease> AcquireAsync(string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        while (true)
        {
            Slot slot;
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                slot = SlotLocked(name);
                if (slot.Current is { } current) return LeaseLocked(slot, current);
            }
            await slot.Gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                lock (_lock)
                {
                    ObjectDisposedException.ThrowIf(_disposed, this);
                    if (!_slots.TryGetValue(name, out var again) || again != slot || slot.Current is not null) continue; // loaded (or changed) meanwhile
                }
                var loaded = await LoadVersionAsync(slot, slot.Reference, slot.Options, discountBytes: 0, ct).ConfigureAwait(false);
                lock (_lock)
                {
                    if (_disposed || !_slots.ContainsKey(name))
                    {
                        loaded.Retired = true;
                    }
                    else
                    {
                        slot.Current = loaded;
                        return LeaseLocked(slot, loaded);
                    }
                }
                Free(loaded, "unregistered while loading");
                throw new ModelNotRegisteredException(name, Names);
            }
            finally
            {
                slot.Gate.Release();
            }
        }
    }

    /// <summary>Synchronous twin of <see cref="AcquireAsync"/>.</summary>
    public ModelLease Acquire(string name, CancellationToken ct = default) => AcquireAsync(name, ct).GetAwaiter().GetResult();

    /// <summary>Loads <paramref name="name"/> now (it stays loaded until evicted, or forever when pinned).</summary>
    public async Task LoadAsync(string name, CancellationToken ct = default)
    {
        using var lease = await AcquireAsync(name, ct).ConfigureAwait(false);
    }

    /// <summary>Reranks with the current version of <paramref name="name"/> and its configured method.</summary>
    public async Task<RerankResult> RerankAsync(string name, string query, IReadOnlyList<string> documents, int? topN = null, CancellationToken ct = default)
    {
        using var lease = await AcquireAsync(name, ct).ConfigureAwait(false);
        return await lease.Reranker.RerankAsync(query, documents, topN, ct).ConfigureAwait(false);
    }

    /// <summary>Reranks with the current version of <paramref name="name"/> and <paramref name="method"/>.</summary>
    public async Task<RerankResult> RerankAsync(string name, string query, IReadOnlyList<string> documents, RerankMethod method, int? topN = null, CancellationToken ct = default)
    {
        using var lease = await AcquireAsync(name, ct).ConfigureAwait(false);
        return await lease.Reranker.RerankAsync(query, documents, method, topN, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Replaces the model behind <paramref name="name"/> with <paramref name="reference"/> while it serves:
    /// the new version is resolved, loaded and warmed up first (requests keep going to the old one), then
    /// new requests go to it; the old version is freed when its last request ends. If loading fails,
    /// nothing changes. Registers the name when it is new.
    /// </summary>
    public async Task<SwapResult> SwapAsync(string name, string reference, RerankerOptions? options = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        options?.Validate();
        Slot slot;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_slots.TryGetValue(name, out slot!))
            {
                slot = new Slot(name, reference, options, pinned: false);
                _slots[name] = slot;
            }
        }
        await slot.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var sw = Stopwatch.StartNew();
            var effective = options ?? slot.Options;
            long discount;
            lock (_lock) discount = slot.Current?.Bytes ?? 0; // the old version leaves as the new one arrives
            var loaded = await LoadVersionAsync(slot, reference, effective, discount, ct).ConfigureAwait(false);
            LoadedVersion? old;
            LoadedVersion? free;
            lock (_lock)
            {
                old = slot.Current;
                free = RetireLocked(slot);
                slot.Current = loaded;
                slot.Reference = reference;
                slot.Options = effective;
                if (_disposed) loaded.Retired = true;
            }
            _logger.LogInformation("Swapped {Name}: v{Old} -> v{New} ({Path}) in {Ms:F0} ms; v{Old} finishes {Leases} request(s)",
                name, old?.Version ?? 0, loaded.Version, loaded.Path, sw.Elapsed.TotalMilliseconds, old?.Version ?? 0, old?.Leases ?? 0);
            Interlocked.Increment(ref _swaps);
            Free(free, "swapped out");
            if (loaded.Retired) Free(loaded, "pool disposed");
            return new SwapResult(name, old?.Version, loaded.Version, loaded.Path, sw.Elapsed);
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    /// <summary>Unloads <paramref name="name"/> if it is loaded (immediately when idle, else when its requests end). Pinned models too.</summary>
    public bool Unload(string name)
    {
        LoadedVersion? free;
        lock (_lock)
        {
            var slot = SlotLocked(name);
            if (slot.Current is null) return false;
            free = RetireLocked(slot);
        }
        Free(free, "unloaded");
        return true;
    }

    internal void Release(LoadedVersion version)
    {
        LoadedVersion? free = null;
        lock (_lock)
        {
            version.Leases--;
            if (version.Leases == 0 && version.Retired) free = version;
            var signal = _released;
            _released = NewSignal();
            signal.TrySetResult();
        }
        Free(free, "last request of a retired version ended");
    }

    private ModelLease LeaseLocked(Slot slot, LoadedVersion version)
    {
        version.Leases++;
        slot.LastUsedTicks = DateTimeOffset.UtcNow.UtcTicks;
        slot.LastUsedOrder = ++_useCounter;
        return new ModelLease(this, version);
    }

    private async Task<LoadedVersion> LoadVersionAsync(Slot slot, string reference, RerankerOptions? options, long discountBytes, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var resolved = await _resolver.ResolveAsync(reference, progress: null, ct).ConfigureAwait(false);
        long fileBytes = new FileInfo(resolved.Path).Length;
        await MakeRoomAsync(fileBytes - discountBytes, slot, ct).ConfigureAwait(false);

        var rerankerOptions = options ?? _options.RerankerOptions;
        if (options is null && resolved.Entry is { } entry) rerankerOptions = entry.ApplyTo(rerankerOptions);
        if (rerankerOptions.LoggerFactory is null && _options.LoggerFactory is not null) rerankerOptions = rerankerOptions with { LoggerFactory = _options.LoggerFactory };
        // The budget is checked on the loaded contexts below; what the options alone prove beyond it is refused before
        // anything is loaded (a cache beyond the machine's memory is refused by the context itself, InferenceContext).
        if (KvLowerBound(resolved.Path, rerankerOptions) is > 0 and var kvFloor && fileBytes + kvFloor - discountBytes > _options.MemoryBudgetBytes)
        {
            throw new PoolBudgetExceededException($"model '{slot.Name}' needs at least {(fileBytes + kvFloor) / 1e6:F0} MB (KV cache of {rerankerOptions.ParallelSequences} " +
                $"parallel sequences of {rerankerOptions.MaxDocumentTokens} tokens: {kvFloor / 1e6:F0} MB), more than the pool's whole budget of {_options.MemoryBudgetBytes / 1e6:F0} MB");
        }
        long loadStart = sw.ElapsedTicks;
        var reranker = await Reranker.LoadAsync(resolved.Path, rerankerOptions, ct).ConfigureAwait(false);
        double loadMs = Stopwatch.GetElapsedTime(0, sw.ElapsedTicks - loadStart).TotalMilliseconds;
        double warmMs = 0;
        try
        {
            if (_options.WarmUp)
            {
                long w = Stopwatch.GetTimestamp();
                await reranker.RerankAsync("warm up", ["warm up", "a second document"], ct: ct).ConfigureAwait(false);
                warmMs = Stopwatch.GetElapsedTime(w).TotalMilliseconds;
            }
        }
        catch
        {
            reranker.Dispose();
            throw;
        }
        long bytes = fileBytes + KvCacheBytes(reranker);
        LoadedVersion version;
        lock (_lock) version = new LoadedVersion(slot.Name, ++slot.Versions, resolved.Path, reranker, bytes);
        Interlocked.Increment(ref _loads);
        _logger.LogInformation("Loaded {Name} v{Version} from {Path}: {MB:F1} MB (weights {Weights:F1} MB + KV {Kv:F1} MB), load {Load:F0} ms, warm-up {Warm:F0} ms",
            slot.Name, version.Version, resolved.Path, bytes / 1e6, fileBytes / 1e6, (bytes - fileBytes) / 1e6, loadMs, warmMs);
        try
        {
            await MakeRoomAsync(bytes - discountBytes, slot, ct).ConfigureAwait(false);
        }
        catch
        {
            reranker.Dispose();
            throw;
        }
        return version;
    }

    /// <summary>Evicts idle, unpinned models (least recently used first) until <paramref name="needed"/> more bytes fit.</summary>
    private async Task MakeRoomAsync(long needed, Slot loading, CancellationToken ct)
    {
        if (needed > _options.MemoryBudgetBytes)
            throw new PoolBudgetExceededException($"model '{loading.Name}' needs {needed / 1e6:F0} MB, more than the pool's whole budget of {_options.MemoryBudgetBytes / 1e6:F0} MB");
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var toFree = new List<LoadedVersion>();
            Task released;
            lock (_lock)
            {
                long used = LoadedBytesLocked();
                var candidates = _slots.Values
                    .Where(s => s != loading && !s.Pinned && s.Current is { Leases: 0 })
                    .OrderBy(s => s.LastUsedOrder)
                    .ToList();
                foreach (var s in candidates)
                {
                    if (used + needed <= _options.MemoryBudgetBytes) break;
                    used -= s.Current!.Bytes;
                    toFree.Add(RetireLocked(s)!);
                }
                bool fits = used + needed <= _options.MemoryBudgetBytes;
                bool canWait = _slots.Values.Any(s => s != loading && !s.Pinned && s.Current is { Leases: > 0 }) || _retired.Count > 0;
                if (fits || !canWait || deadline.Elapsed > _options.BudgetWaitTimeout)
                {
                    foreach (var v in toFree) Evict(v, loading.Name);
                    if (fits) return;
                    string pinned = string.Join(", ", _slots.Values.Where(s => s.Pinned && s.Current is not null).Select(s => s.Name));
                    throw new PoolBudgetExceededException($"no room for model '{loading.Name}' ({needed / 1e6:F0} MB): {used / 1e6:F0} MB of the {_options.MemoryBudgetBytes / 1e6:F0} MB budget " +
                        $"are held by {(pinned.Length > 0 ? $"pinned models ({pinned}) and " : "")}models that stayed busy for {_options.BudgetWaitTimeout.TotalSeconds:F0} s");
                }
                released = _released.Task;
            }
            foreach (var v in toFree) Evict(v, loading.Name);
            _logger.LogInformation("Waiting for busy models to become idle to make room for {Name}", loading.Name);
            var remaining = _options.BudgetWaitTimeout - deadline.Elapsed;
            if (remaining > TimeSpan.Zero)
            {
                try
                {
                    await released.WaitAsync(remaining, ct).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                }
            }
        }
    }

    /// <summary>Takes the slot's current version out of service; returns it when it can be freed now.</summary>
    private LoadedVersion? RetireLocked(Slot slot)
    {
        var v = slot.Current;
        if (v is null) return null;
        slot.Current = null;
        v.Retired = true;
        if (v.Leases == 0) return v;
        _retired.Add(v);
        return null;
    }

    private void Evict(LoadedVersion version, string forName)
    {
        Interlocked.Increment(ref _evictions);
        Free(version, $"evicted to make room for {forName}");
    }

    private void Free(LoadedVersion? version, string why)
    {
        if (version is null) return;
        lock (_lock)
        {
            _retired.Remove(version);
            if (version.Freed) return;
            version.Freed = true;
        }
        version.Reranker.Dispose();
        _logger.LogInformation("Freed {Name} v{Version} ({MB:F1} MB): {Why}", version.Name, version.Version, version.Bytes / 1e6, why);
        lock (_lock)
        {
            var signal = _released;
            _released = NewSignal();
            signal.TrySetResult();
        }
    }

    private long LoadedBytesLocked()
    {
        long total = 0;
        foreach (var s in _slots.Values) total += s.Current?.Bytes ?? 0;
        foreach (var r in _retired) total += r.Bytes;
        return total;
    }

    private Slot SlotLocked(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _slots.TryGetValue(name, out var slot) ? slot : throw new ModelNotRegisteredException(name, [.. _slots.Keys]);
    }

    /// <summary>
    /// A lower bound of the KV cache <paramref name="options"/> ask of the model at <paramref name="path"/>, from its GGUF
    /// header alone (no llama.cpp): explicit parallel sequences x the per-document budget x the bytes of a cell
    /// (<see cref="Engine.LlamaModel.KvCellBytes"/>). 0 when it cannot tell (automatic parallelism is sized within its own KV budget).
    /// </summary>
    internal static long KvLowerBound(string path, RerankerOptions options)
    {
        if (options.ParallelSequences <= 0) return 0;
        try
        {
            var header = Gguf.GgufReader.Read(path);
            long layers = header.GetArchInteger("block_count") ?? 0;
            long heads = header.GetArchInteger("attention.head_count") ?? 0;
            long kvHeads = header.GetArchInteger("attention.head_count_kv") ?? heads;
            long width = header.GetArchInteger("embedding_length") ?? 0;
            long keyDim = header.GetArchInteger("attention.key_length") ?? (heads > 0 ? width / heads : 0);
            long valueDim = header.GetArchInteger("attention.value_length") ?? keyDim;
            long cell = Engine.LlamaModel.KvCellBytes(layers, kvHeads, keyDim, valueDim);
            return cell <= 0 ? 0 : options.ParallelSequences * (long)options.MaxDocumentTokens * cell;
        }
        catch (Exception ex) when (ex is Gguf.GgufFormatException or IOException or UnauthorizedAccessException)
        {
            return 0; // the load reports the file's problem
        }
    }

    /// <summary>KV cache bytes of the reranker's configured method.</summary>
    private static long KvCacheBytes(Reranker reranker)
    {
        var config = reranker.Engine(reranker.Options.Method).Context.Config;
        return (long)config.Sequences * config.CellsPerSequence * reranker.Model.KvBytesPerCell;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Frees every model; requests in progress finish first.</summary>
    public void Dispose()
    {
        List<LoadedVersion> all;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            all = [.. _slots.Values.Where(s => s.Current is not null).Select(s => s.Current!), .. _retired];
            foreach (var s in _slots.Values) s.Current = null;
            _retired.Clear();
        }
        foreach (var v in all)
        {
            v.Retired = true;
            Free(v, "pool disposed");
        }
        if (_ownsResolver) _resolver.Dispose();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class Slot(string name, string reference, RerankerOptions? options, bool pinned)
    {
        public string Name { get; } = name;
        public string Reference { get; set; } = reference;
        public RerankerOptions? Options { get; set; } = options;
        public bool Pinned { get; set; } = pinned;
        public LoadedVersion? Current { get; set; }
        public int Versions { get; set; }
        public long LastUsedTicks { get; set; }
        public long LastUsedOrder { get; set; }
        public SemaphoreSlim Gate { get; } = new(1, 1);
    }

    internal sealed class LoadedVersion(string name, int version, string path, Reranker reranker, long bytes)
    {
        public string Name { get; } = name;
        public int Version { get; } = version;
        public string Path { get; } = path;
        public Reranker Reranker { get; } = reranker;
        public long Bytes { get; } = bytes;
        public int Leases { get; set; }
        public bool Retired { get; set; }
        public bool Freed { get; set; }
    }
}
