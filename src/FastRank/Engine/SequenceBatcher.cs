namespace FastRank.Engine;

/// <summary>
/// Tokens to append to one sequence: <c>Tokens</c> at positions <c>StartPos</c>, <c>StartPos+1</c>, ...
/// When <c>LogitsAtEnd</c> is set, the outputs of the last token are handed to the readout with <c>Tag</c>.
/// </summary>
internal readonly record struct DecodeJob(int Seq, int StartPos, int[] Tokens, int Tag, bool LogitsAtEnd);

/// <summary>
/// The outputs of one token of the last decode: its logits row and, in a context created with
/// <see cref="ContextConfig.HiddenStates"/>, its final normalized hidden state. Valid only during the readout call.
/// </summary>
internal readonly ref struct DecodedOutput(InferenceContext context, int index)
{
    /// <summary>The logits row (n_vocab floats).</summary>
    public ReadOnlySpan<float> Logits => context.Logits(index);

    /// <summary>The final normalized hidden state (n_embd floats), the LM head's input.</summary>
    public ReadOnlySpan<float> HiddenState => context.HiddenState(index);
}

/// <summary>Receives the outputs of a job's last token (valid only during the call).</summary>
internal delegate void OutputReadout(int tag, DecodedOutput output);

/// <summary>
/// Plans the llama_decode calls of many sequences so that every call is exactly one micro-batch
/// that llama.cpp evaluates as given, and asks for logits only where they are read.
/// <para>
/// With one KV stream per sequence llama.cpp evaluates a micro-batch as equal-length runs of
/// consecutive sequence ids. Its CPU kernels take different paths for short runs (flash attention:
/// fewer than 64 rows; otherwise a single token), which moves results (a yes-no logit by up to 0.4 on
/// a q8_0 model), so a sequence's score would depend on its neighbours' lengths. Every call therefore
/// holds a consecutive range of sequences, each contributing the same number <c>t</c> of tokens with
/// <c>t</c> at least the context's <see cref="InferenceContext.MinimumRun"/>, and no sequence is ever left
/// with fewer than that to go. Under that rule a document's score is identical to a lone decode of its
/// prompt, whatever the waves, the batch size or the other documents. Jobs shorter than the run length
/// are evaluated whole (callers back off into cached tokens to avoid them, see
/// <see cref="RankingEngine.DecodeSuffixes"/> and <see cref="PrefixCache"/>).
/// </para>
/// </summary>
internal static class SequenceBatcher
{
    /// <summary>Decodes all <paramref name="jobs"/> (distinct sequences).</summary>
    public static void Run(InferenceContext ctx, IReadOnlyList<DecodeJob> jobs, OutputReadout? readout, CancellationToken ct)
    {
        int n = jobs.Count;
        if (n == 0) return;
        int cap = Math.Min(ctx.Config.MicroBatchSize, ctx.Config.BatchSize);
        int minRun = Math.Min(ctx.MinimumRun, cap);
        // Where short runs are exact (ShortRunAttention), runs of 64 or more are still preferred: they take llama.cpp's
        // own tiled attention kernel, and the handler's attention costs more than its kernel; shorter runs only for
        // what is left.
        int preferred = ctx.ShortRuns is not null ? Math.Min(ShortRunAttention.TiledRows, cap) : minRun;
        // Order by sequence id: ranges of consecutive ids are what a micro-batch may hold.
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(order, (a, b) => jobs[a].Seq.CompareTo(jobs[b].Seq));
        var remaining = new int[n];
        var done = new int[n];
        for (int k = 0; k < n; k++)
        {
            var job = jobs[order[k]];
            if (k > 0 && jobs[order[k - 1]].Seq == job.Seq) throw new ArgumentException($"two jobs for sequence {job.Seq}");
            if (job.Tokens.Length == 0 && job.LogitsAtEnd) throw new ArgumentException($"job {job.Tag} has no tokens but wants logits");
            remaining[k] = job.Tokens.Length;
            ctx.SetPromptEnd(job.Seq, job.StartPos + job.Tokens.Length);
        }

        Span<(int Tag, int Index)> pending = n <= 128 ? stackalloc (int, int)[n] : new (int, int)[n];
        while (true)
        {
            // Runs of the preferred length where there are any; then runs of the minimum, then what is shorter than a run.
            if (!(preferred != minRun && Plan(jobs, order, remaining, cap, preferred, whole: false, out int first, out int last, out int t))
                && !Plan(jobs, order, remaining, cap, minRun, whole: true, out first, out last, out t)) break;
            ctx.BatchClear();
            int npending = 0;
            for (int k = first; k <= last; k++)
            {
                var job = jobs[order[k]];
                int start = done[k];
                for (int i = 0; i < t; i++)
                {
                    int at = start + i;
                    bool wants = job.LogitsAtEnd && at == job.Tokens.Length - 1;
                    int idx = ctx.BatchAdd(job.Tokens[at], job.StartPos + at, job.Seq, wants);
                    if (wants) pending[npending++] = (job.Tag, idx);
                }
                done[k] += t;
                remaining[k] -= t;
            }
            ctx.Decode(ct);
            if (readout is not null)
            {
                for (int p = 0; p < npending; p++) readout(pending[p].Tag, new DecodedOutput(ctx, pending[p].Index));
            }
        }
        foreach (var job in jobs) ctx.SetPromptEnd(job.Seq, 0);
    }

    /// <summary>
    /// Picks the next micro-batch: the range [first, last] of jobs (consecutive in sequence id, all with
    /// tokens left) and the per-sequence token count t that maximize the tokens evaluated, under
    /// range size x t &lt;= cap, minRun &lt;= t &lt;= every remainder in the range, and no remainder left
    /// below minRun. With <paramref name="whole"/>, when no such range exists, a job shorter than minRun in total is
    /// evaluated whole, alone (a lone decode of a prompt that short takes the same short path).
    /// </summary>
    private static bool Plan(IReadOnlyList<DecodeJob> jobs, int[] order, int[] remaining, int cap, int minRun, bool whole,
        out int first, out int last, out int t)
    {
        first = last = t = -1;
        int best = 0;
        int n = remaining.Length;
        for (int a = 0; a < n; a++)
        {
            if (remaining[a] < minRun) continue;
            int min = int.MaxValue;
            for (int b = a; b < n; b++)
            {
                if (remaining[b] < minRun) break;
                if (b > a && jobs[order[b]].Seq != jobs[order[b - 1]].Seq + 1) break;
                int size = b - a + 1;
                if (size * minRun > cap) break;
                min = Math.Min(min, remaining[b]);
                int hi = Math.Min(min, cap / size);
                for (int c = hi; c >= minRun && c * size > best; c--)
                {
                    if (Valid(remaining, a, b, c, minRun))
                    {
                        best = c * size;
                        first = a;
                        last = b;
                        t = c;
                        break;
                    }
                }
            }
        }
        if (best > 0) return true;
        if (!whole) return false;
        for (int a = 0; a < n; a++)
        {
            if (remaining[a] > 0)
            {
                // Shorter than a run (or, in a micro-batch smaller than two runs, whatever fits).
                first = last = a;
                t = Math.Min(remaining[a], cap);
                return true;
            }
        }
        return false;
    }

    private static bool Valid(int[] remaining, int a, int b, int c, int minRun)
    {
        for (int k = a; k <= b; k++)
        {
            int left = remaining[k] - c;
            if (left != 0 && left < minRun) return false;
        }
        return true;
    }
}
