using System.Diagnostics;
using FastRank.Engine;
using Microsoft.Extensions.Logging;

namespace FastRank.Ranking;

/// <summary>
/// The scheduler of a reranker's calls: one worker at a time drives the context. Pointwise calls waiting
/// together are decoded in shared waves (<see cref="RankingEngine.DecodeWave"/>): a call joins between
/// waves, waves take documents round-robin from the calls in arrival order (so a large call never starves
/// small ones: each gets its share of every wave), and a cancelled call returns at once, its documents leaving at the
/// next wave while the others go on. Calls of other methods run alone, in arrival order (a cancelled one returns at once too,
/// the worker aborting its decode behind it); pointwise calls that arrived after one wait for it.
/// </summary>
public sealed partial class Reranker
{
    private readonly Lock _queueLock = new();
    private readonly List<ScheduledCall> _queue = [];
    private bool _working;
    private TaskCompletionSource? _idle;

    private sealed class ScheduledCall(RerankRequest request, RerankMethod method, IRankingMethod impl, RankingEngine engine, CancellationToken ct)
    {
        public RerankRequest Request { get; } = request;
        public RerankMethod Method { get; } = method;
        public IRankingMethod Impl { get; } = impl;
        public RankingEngine Engine { get; } = engine;
        public CancellationToken Ct { get; } = ct;
        public long Queued { get; } = Stopwatch.GetTimestamp();
        public long Started { get; set; }
        public PointwiseMethod.Call? Pointwise { get; set; }
        public TaskCompletionSource<RerankResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }

    private Task<RerankResult> Schedule(RerankRequest request, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var method = request.Method ?? _options.Method;
        var (configured, engine) = Prepare(method);
        var impl = Variant(configured, request);
        var call = new ScheduledCall(request, method, impl, engine, ct);
        // Tokenizing happens here, on the caller's thread, while the worker decodes other calls.
        if (impl is PointwiseMethod pointwise) call.Pointwise = pointwise.Start(request.Query, request.Documents);
        bool start;
        lock (_queueLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _queue.Add(call);
            start = !_working;
            _working = true;
        }
        // A call cancelled while it waits leaves the queue at once; one in a wave leaves at the wave's end.
        call.Registration = ct.Register(() =>
        {
            bool removed;
            lock (_queueLock) removed = _queue.Remove(call);
            if (removed) call.Done.TrySetCanceled(ct);
        });
        // A thread of its own while there is work: decoding is long CPU work, and synchronous callers block pool threads.
        if (start) _ = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return call.Done.Task;
    }

    private void Work()
    {
        var active = new List<ScheduledCall>();
        while (true)
        {
            ScheduledCall? alone = null;
            lock (_queueLock)
            {
                // Pointwise calls join the waves in arrival order, up to the first call of another method.
                while (_queue.Count > 0 && _queue[0].Pointwise is not null && (active.Count == 0 || _queue[0].Engine == active[0].Engine))
                {
                    active.Add(_queue[0]);
                    _queue.RemoveAt(0);
                }
                if (active.Count == 0)
                {
                    if (_queue.Count == 0)
                    {
                        _working = false;
                        _idle?.TrySetResult();
                        return;
                    }
                    alone = _queue[0];
                    _queue.RemoveAt(0);
                }
            }
            if (alone is not null) RunAlone(alone);
            else RunWave(active);
        }
    }

    private void RunAlone(ScheduledCall call)
    {
        call.Registration.Dispose();
        call.Started = Stopwatch.GetTimestamp();
        // The caller returns as soon as it cancels, as a pointwise caller does: the worker aborts the decode in progress
        // (llama.cpp's abort callback) and resets the engine before the next call, without the caller waiting for it.
        using var returnNow = call.Ct.Register(() => call.Done.TrySetCanceled(call.Ct));
        try
        {
            call.Ct.ThrowIfCancellationRequested();
            var result = call.Impl.Rank(call.Engine, call.Request.Query, call.Request.Documents, call.Ct);
            call.Done.TrySetResult(Complete(call.Method, result, call.Request.TopN, call.Queued, call.Started));
        }
        catch (Exception ex)
        {
            if (ex is OperationCanceledException or DecodeException) call.Engine.Reset();
            Fail(call, ex);
        }
    }

    /// <summary>One wave over the active pointwise calls; finished and cancelled calls leave it.</summary>
    private void RunWave(List<ScheduledCall> active)
    {
        for (int i = active.Count - 1; i >= 0; i--)
        {
            if (active[i].Ct.IsCancellationRequested)
            {
                active[i].Done.TrySetCanceled(active[i].Ct);
                active[i].Registration.Dispose();
                active.RemoveAt(i);
            }
        }
        if (active.Count == 0) return;
        long now = Stopwatch.GetTimestamp();
        var groups = new SuffixGroup[active.Count];
        for (int i = 0; i < active.Count; i++)
        {
            if (active[i].Started == 0) active[i].Started = now;
            groups[i] = active[i].Pointwise!.Group;
        }
        // The wave stops early only when every call in it is cancelled: the others' work goes on.
        using var wave = new CancellationTokenSource();
        int live = active.Count;
        var registrations = new CancellationTokenRegistration[active.Count];
        for (int i = 0; i < active.Count; i++)
        {
            var call = active[i];
            registrations[i] = call.Ct.Register(() =>
            {
                // The caller returns now, not when the wave ends: its documents' outputs in this wave are dropped.
                call.Done.TrySetCanceled(call.Ct);
                if (Interlocked.Decrement(ref live) == 0) wave.Cancel();
            });
        }
        try
        {
            active[0].Engine.DecodeWave(groups, wave.Token);
        }
        catch (Exception ex)
        {
            foreach (var r in registrations) r.Dispose();
            if (ex is OperationCanceledException or DecodeException) active[0].Engine.Reset();
            _logger.LogDebug(ex, "A shared wave of {Calls} calls failed", active.Count);
            foreach (var call in active) Fail(call, ex);
            active.Clear();
            return;
        }
        foreach (var r in registrations) r.Dispose();
        for (int i = active.Count - 1; i >= 0; i--)
        {
            var call = active[i];
            if (call.Pointwise!.Group.Remaining > 0 && !call.Ct.IsCancellationRequested) continue;
            active.RemoveAt(i);
            call.Registration.Dispose();
            if (call.Ct.IsCancellationRequested)
            {
                call.Done.TrySetCanceled(call.Ct);
                continue;
            }
            var result = PointwiseMethod.Finish(call.Pointwise, Stopwatch.GetTimestamp() - call.Started);
            call.Done.TrySetResult(Complete(call.Method, result, call.Request.TopN, call.Queued, call.Started));
        }
    }

    private static void Fail(ScheduledCall call, Exception ex)
    {
        call.Registration.Dispose();
        if (ex is OperationCanceledException && call.Ct.IsCancellationRequested) call.Done.TrySetCanceled(call.Ct);
        else if (ex is OperationCanceledException) call.Done.TrySetException(new OperationCanceledException("the decode was cancelled", ex));
        else call.Done.TrySetException(ex);
    }

    /// <summary>Refuses new calls, fails waiting ones, waits for the worker; false when already closed.</summary>
    private bool CloseScheduler()
    {
        Task idle;
        List<ScheduledCall> refused;
        lock (_queueLock)
        {
            if (_disposed) return false;
            _disposed = true;
            refused = [.. _queue];
            _queue.Clear();
            _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_working) _idle.TrySetResult();
            idle = _idle.Task;
        }
        foreach (var call in refused) Fail(call, new ObjectDisposedException(nameof(Reranker)));
        idle.GetAwaiter().GetResult();
        return true;
    }
}
