using System.Diagnostics;
using FastRank.Evaluation.Datasets;
using FastRank.Evaluation.Formats;
using FastRank.Evaluation.Metrics;
using FastRank.Ranking;

namespace FastRank.Evaluation.Runner;

/// <summary>One system to evaluate: a loaded reranker and the method it ranks with.</summary>
/// <param name="Name">Its name in the report and the run file's name (letters, digits, '-', '_', '.').</param>
/// <param name="Reranker">The reranker (several systems may share one: the methods share the model).</param>
/// <param name="Method">The method.</param>
public sealed record EvalSystem(string Name, Reranker Reranker, RerankMethod Method);

/// <summary>Settings of an evaluation run.</summary>
public sealed record EvalRunOptions
{
    /// <summary>First-stage documents reranked per query.</summary>
    public int TopK { get; init; } = 100;

    /// <summary>Evaluate the first N judged queries only (ordinal order of ids); null: all.</summary>
    public int? MaxQueries { get; init; }

    /// <summary>The measures; the first is the one the summary and the significance tests lead with.</summary>
    public IReadOnlyList<MetricSpec> Metrics { get; init; } = MetricSpec.Defaults;

    /// <summary>Permutations of the randomization test.</summary>
    public int Permutations { get; init; } = Significance.DefaultPermutations;
}

/// <summary>Progress of an evaluation: a system's queries done out of its total.</summary>
/// <param name="System">The system.</param>
/// <param name="Done">Queries reranked.</param>
/// <param name="Total">Queries to rerank.</param>
/// <param name="LastLatencyMs">The latest query's rerank time.</param>
public sealed record EvalProgress(string System, int Done, int Total, double LastLatencyMs);

/// <summary>What reranking one query cost.</summary>
/// <param name="QueryId">The query.</param>
/// <param name="Documents">Documents reranked.</param>
/// <param name="LatencyMs">Wall time of the rerank call.</param>
/// <param name="PromptTokens">Prompt tokens (every document's prompt counted whole).</param>
/// <param name="CachedTokens">Prompt tokens served from the prefix cache.</param>
/// <param name="TruncatedDocuments">Documents cut to the token budget.</param>
public sealed record QueryCost(string QueryId, int Documents, double LatencyMs, long PromptTokens, long CachedTokens, int TruncatedDocuments);

/// <summary>One system's outcome (the first stage is one too, without costs).</summary>
/// <param name="Name">The system's name.</param>
/// <param name="Model">The model file (null for the first stage).</param>
/// <param name="Method">The method (null for the first stage).</param>
/// <param name="Run">Its run.</param>
/// <param name="Evaluation">Its measures.</param>
/// <param name="Costs">Per-query costs (empty for the first stage).</param>
/// <param name="VersusFirstStage">Per measure, the paired comparison with the first stage (empty for the first stage).</param>
public sealed record SystemOutcome(string Name, string? Model, RerankMethod? Method, TrecRun Run, EvaluationResult Evaluation,
    IReadOnlyList<QueryCost> Costs, IReadOnlyList<PairedComparison> VersusFirstStage)
{
    /// <summary>Total wall time of the rerank calls, in seconds.</summary>
    public double TotalSeconds => Costs.Sum(c => c.LatencyMs) / 1000;
}

/// <summary>Two reranking systems compared on the same queries: per measure, <see cref="B"/> against <see cref="A"/>.</summary>
/// <param name="A">The baseline system.</param>
/// <param name="B">The system compared with it.</param>
/// <param name="PerMetric">One comparison per measure, in the order of the measures.</param>
public sealed record SystemComparison(string A, string B, IReadOnlyList<PairedComparison> PerMetric);

/// <summary>The result of <see cref="EvalRunner.RunAsync"/>.</summary>
/// <param name="Dataset">The dataset's name.</param>
/// <param name="FirstStageName">The first stage (<c>bm25</c>, or the run file's name).</param>
/// <param name="Options">The settings.</param>
/// <param name="QueryIds">The evaluated queries.</param>
/// <param name="FirstStage">The first stage cut to the top-k.</param>
/// <param name="Systems">The reranking systems.</param>
/// <param name="Started">When the run began (UTC).</param>
/// <param name="Comparisons">Every pair of reranking systems (each later one against each earlier one).</param>
public sealed record EvalOutcome(string Dataset, string FirstStageName, EvalRunOptions Options, IReadOnlyList<string> QueryIds,
    SystemOutcome FirstStage, IReadOnlyList<SystemOutcome> Systems, DateTimeOffset Started, IReadOnlyList<SystemComparison> Comparisons);

/// <summary>
/// Reranks each query's first-stage top-k with each system and scores every run against the qrels. Every
/// evaluated query counts in every mean (a query without first-stage results scores 0, trec_eval <c>-c</c>).
/// </summary>
public static class EvalRunner
{
    /// <summary>Runs the evaluation.</summary>
    /// <exception cref="FastRankException">The first stage names a document the corpus lacks.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static async Task<EvalOutcome> RunAsync(EvalDataset dataset, TrecRun firstStage, string firstStageName, IReadOnlyList<EvalSystem> systems,
        EvalRunOptions? options = null, IProgress<EvalProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(firstStage);
        ArgumentNullException.ThrowIfNull(systems);
        options ??= new EvalRunOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.TopK, 1);
        if (options.Metrics.Count == 0) throw new ArgumentException("no measures", nameof(options));
        var started = DateTimeOffset.UtcNow;
        var queries = dataset.EvaluationQueries(options.MaxQueries);
        var qrels = dataset.Qrels.Restrict(queries);
        var candidates = new Dictionary<string, IReadOnlyList<RunEntry>>(StringComparer.Ordinal);
        foreach (string q in queries)
        {
            var top = firstStage.Ranked(q).Take(options.TopK).ToArray();
            foreach (var e in top)
            {
                if (!dataset.Corpus.ContainsKey(e.DocId))
                    throw new FastRankException($"the first stage ({firstStageName}) lists document '{e.DocId}' for query '{q}', which the corpus of {dataset.Name} does not have");
            }
            if (top.Length > 0) candidates[q] = top;
        }
        var first = new TrecRun(firstStage.Tag, candidates);
        var firstEval = RetrievalEvaluator.Evaluate(first, qrels, options.Metrics, complete: true);
        var firstOutcome = new SystemOutcome(firstStageName, null, null, first, firstEval, [], []);

        var outcomes = new List<SystemOutcome>();
        foreach (var system in systems)
        {
            var entries = new Dictionary<string, IReadOnlyList<RunEntry>>(StringComparer.Ordinal);
            var costs = new List<QueryCost>(queries.Count);
            int done = 0;
            foreach (string q in queries)
            {
                ct.ThrowIfCancellationRequested();
                if (!candidates.TryGetValue(q, out var docs))
                {
                    progress?.Report(new EvalProgress(system.Name, ++done, queries.Count, 0));
                    continue;
                }
                var texts = docs.Select(d => dataset.Corpus[d.DocId].Content).ToArray();
                long t0 = Stopwatch.GetTimestamp();
                var result = await system.Reranker.RerankAsync(new RerankRequest(dataset.Queries[q], texts) { Method = system.Method }, ct).ConfigureAwait(false);
                double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                entries[q] = result.Select(r => new RunEntry(docs[r.Index].DocId, r.Score)).ToArray();
                costs.Add(new QueryCost(q, docs.Count, ms, result.Usage.PromptTokens, result.Usage.CachedTokens, result.Usage.TruncatedDocuments));
                progress?.Report(new EvalProgress(system.Name, ++done, queries.Count, ms));
            }
            var run = new TrecRun(system.Name, entries);
            var evaluation = RetrievalEvaluator.Evaluate(run, qrels, options.Metrics, complete: true);
            var versus = options.Metrics.Select(m => Significance.Compare(firstEval.Values(m), evaluation.Values(m), options.Permutations)).ToArray();
            outcomes.Add(new SystemOutcome(system.Name, Path.GetFileName(system.Reranker.Model.Path), system.Method, run, evaluation, costs, versus));
        }
        var pairs = new List<SystemComparison>();
        for (int i = 0; i < outcomes.Count; i++)
        {
            for (int j = i + 1; j < outcomes.Count; j++)
            {
                var a = outcomes[i].Evaluation;
                var b = outcomes[j].Evaluation;
                pairs.Add(new SystemComparison(outcomes[i].Name, outcomes[j].Name,
                    [.. options.Metrics.Select(m => Significance.Compare(a.Values(m), b.Values(m), options.Permutations))]));
            }
        }
        return new EvalOutcome(dataset.Name, firstStageName, options, queries, firstOutcome, outcomes, started, pairs);
    }
}
