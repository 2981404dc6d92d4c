using System.Globalization;
using ScottPlot;

namespace FastRank.Cli.Bench;

/// <summary>
/// Charts of a suite (ScottPlot, PNG; Skia's SVG backend drops dash patterns, which the floor lines need):
/// latency against the number of documents, and against the tokens per document, one colour per method,
/// FastRank solid with filled circles, the floor dashed with open squares, baselines dotted. Both axes
/// logarithmic, so constant ratios are constant gaps.
/// </summary>
internal static class BenchCharts
{
    /// <summary>Writes the chart of <paramref name="points"/> along <paramref name="x"/> (documents or tokens per document).</summary>
    public static void Write(string path, string title, string xLabel, IReadOnlyList<PointResult> points, Func<PointResult, int> x, bool baselines = true)
    {
        var plot = new Plot();
        var methods = points.Select(p => p.Method).Distinct().ToList();
        var all = new List<double>();
        var xs = new SortedSet<int>();
        for (int m = 0; m < methods.Count; m++)
        {
            var color = Colors.Category10[m % 10];
            var series = points.Where(p => p.Method == methods[m]).OrderBy(x).ToList();
            if (series.Count == 0) continue;
            double[] lx = [.. series.Select(p => Math.Log10(x(p)))];
            foreach (var p in series) xs.Add(x(p));

            void Line(string label, double[] ms, LinePattern pattern, MarkerShape marker, float width, Color c)
            {
                all.AddRange(ms);
                var s = plot.Add.Scatter(lx, [.. ms.Select(Math.Log10)]);
                s.LegendText = label;
                s.Color = c;
                s.LineWidth = width;
                s.LinePattern = pattern;
                s.MarkerShape = marker;
                s.MarkerSize = 7;
            }

            Line($"{methods[m]} (FastRank)", [.. series.Select(p => p.FastRank.P50Ms)], LinePattern.Solid, MarkerShape.FilledCircle, 2.5f, color);
            Line($"{methods[m]} floor", [.. series.Select(p => p.Floor.P50Ms)], LinePattern.Dashed, MarkerShape.OpenSquare, 1.5f, color);
            if (!baselines) continue;
            MarkerShape[] shapes = [MarkerShape.OpenTriangleUp, MarkerShape.OpenDiamond, MarkerShape.OpenTriangleDown, MarkerShape.Cross];
            int k = 0;
            foreach (string b in series.SelectMany(p => p.Baselines.Select(b => b.Name)).Distinct())
            {
                if (!series.All(p => p.Baselines.Any(x => x.Name == b))) continue;
                Line($"{methods[m]}: {b}", [.. series.Select(p => p.Baselines.First(x => x.Name == b).Timing.P50Ms)],
                    LinePattern.Dotted, shapes[k++ % shapes.Length], 1.5f, color.WithAlpha(0.75));
            }
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. xs.Select(v => new Tick(Math.Log10(v), v.ToString(CultureInfo.InvariantCulture)))]);
        if (all.Count > 0)
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. LatencyTicks(all.Min(), all.Max())]);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel("latency, median (log scale)");
        plot.ShowLegend(Edge.Right);
        plot.Legend.FontSize = 11;
        plot.SavePng(path, 1200, 640);
    }

    private static IEnumerable<Tick> LatencyTicks(double min, double max)
    {
        for (double decade = Math.Pow(10, Math.Floor(Math.Log10(Math.Max(min, 1e-3)))); decade <= max * 10; decade *= 10)
        {
            foreach (double f in (double[])[1, 2, 5])
            {
                double v = decade * f;
                if (v < min / 2 || v > max * 2) continue;
                yield return new Tick(Math.Log10(v), v >= 1000
                    ? (v / 1000).ToString("0.###", CultureInfo.InvariantCulture) + " s"
                    : v.ToString("0.###", CultureInfo.InvariantCulture) + " ms");
            }
        }
    }
}
