using FastRank.Engine;
using FastRank.Interop;

namespace FastRank.Tests.Icr;

/// <summary>The eval-callback plumbing: layout check, reduction, and the guards that keep attention rows and cells exact.</summary>
public sealed unsafe class AttentionCaptureTests
{
    /// <summary>A two-sequence context whose eval callback is a fresh capture.</summary>
    private sealed class Fixture : IDisposable
    {
        public Fixture(string model, int cells = 512, int batch = 64)
        {
            Model = LlamaModel.Load(model);
            Capture = new AttentionCapture();
            Ctx = new InferenceContext(Model, new ContextConfig(2, cells, batch, batch, false, 1)
            {
                EvalCallback = AttentionCapture.CallbackPointer,
                EvalUserData = Capture.UserData,
            });
            Capture.Attach(Ctx);
        }

        public LlamaModel Model { get; }
        public InferenceContext Ctx { get; }
        public AttentionCapture Capture { get; }

        public void Dispose()
        {
            Ctx.Dispose();
            Capture.Dispose();
            Model.Dispose();
        }
    }

    private static int[] Tokens(int count) =>
        [.. Enumerable.Range(0, count).Select(i => 300 + (i * 37) % 2000)];

    [Fact]
    public void GgmlTensorLayoutMatchesTheLoadedGgml() => GgmlTensor.VerifyLayout();

    [Fact]
    public void ReductionEqualsAScalarSumOverHeadsAndRows()
    {
        // ne = [cells, rows, heads, streams], contiguous and with padded rows.
        var random = new Random(5);
        foreach (int pad in new[] { 0, 3 })
        {
            long cells = 37, rows = 5, heads = 3, streams = 2;
            long rowStride = (cells + pad) * 4;
            long[] ne = [cells, rows, heads, streams];
            long[] nb = [4, rowStride, rowStride * rows, rowStride * rows * heads];
            var data = new float[(cells + pad) * rows * heads * streams];
            for (int i = 0; i < data.Length; i++) data[i] = (float)random.NextDouble();
            var acc = new float[64];
            var expected = new double[64];
            acc[40] = 7;
            expected[40] = 7;
            fixed (float* p = data)
                AttentionReduction.Accumulate(p, ne, nb, 1, 4, 1, 0.5f, acc);
            for (int h = 0; h < heads; h++)
                for (int r = 1; r < 4; r++)
                    for (int c = 0; c < cells; c++)
                        expected[c] += 0.5 * data[(int)((1 * nb[3] + h * nb[2] + r * nb[1]) / 4) + c];
            for (int c = 0; c < 64; c++) Assert.Equal(expected[c], acc[c], 1e-5);
        }
    }

    [Fact]
    public void WithoutACaptureNoTensorIsAskedForButEveryMaskIsVerified()
    {
        using var f = new Fixture(IcrTestData.MatchModel);
        var (ctx, capture) = (f.Ctx, f.Capture);
        {
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, Tokens(150), 0, false)], null, default);
            capture.ThrowIfFailed();
            Assert.Equal(0, capture.ReducedTensors);
            Assert.Equal(ctx.DecodeCalls, capture.VerifiedMicroBatches);
            Assert.Equal(150, capture.VerifiedRows);

            capture.BeginCapture(150);
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 150, Tokens(10), 0, false)], null, default);
            capture.EndCapture();
            capture.ThrowIfFailed();
            Assert.Equal(ctx.Model.LayerCount, capture.ReducedTensors);
            var r = capture.Result(0)!;
            Assert.Equal(10, r.Rows);
            // Each query row distributes one unit of attention per layer and head over the cells 0..p.
            double total = r.Cells.Sum(v => (double)v);
            Assert.Equal(10.0 * ctx.Model.LayerCount * ctx.Model.HeadCount, total, 1e-3);
            Assert.All(r.Cells.Skip(160), v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void CellsOutOfPositionOrderAreDetected()
    {
        using var f = new Fixture(IcrTestData.MatchModel);
        var (ctx, capture) = (f.Ctx, f.Capture);
        {
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, Tokens(40), 0, false)], null, default);
            capture.ThrowIfFailed();
            // Free the cells of positions 10..19: llama.cpp puts the next tokens there, so cell != position.
            LlamaNative.llama_memory_seq_rm(LlamaNative.llama_get_memory(ctx.NativeContext), 0, 10, 20);
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 40, Tokens(8), 0, false)], null, default);
            var ex = Assert.Throws<AttentionLayoutException>(capture.ThrowIfFailed);
            Assert.Contains("position order", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ABatchSplitIntoSeveralMicroBatchesIsDetected()
    {
        using var f = new Fixture(IcrTestData.MatchModel, batch: 32);
        var (ctx, capture) = (f.Ctx, f.Capture);
        {
            capture.ThrowIfFailed();
            // 32 tokens of sequence 0 and 32 of sequence 1 in one llama_decode of n_ubatch 32: two micro-batches.
            var nativeCtx = new InferenceContext(ctx.Model, ctx.Config with { BatchSize = 64 });
            capture.Attach(nativeCtx);
            using (nativeCtx)
            {
                nativeCtx.BatchClear();
                for (int s = 0; s < 2; s++)
                    for (int i = 0; i < 32; i++) nativeCtx.BatchAdd(300 + i, i, s, false);
                nativeCtx.Decode(default);
                var ex = Assert.Throws<AttentionLayoutException>(capture.ThrowIfFailed);
                Assert.Contains("micro-batch", ex.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void TwoSequencesInOneMicroBatchAreTwoStreams()
    {
        using var f = new Fixture(IcrTestData.MatchModel);
        var (ctx, capture) = (f.Ctx, f.Capture);
        {
            int[] prefix = Tokens(60);
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, prefix, 0, false)], null, default);
            ctx.CopyAll(0, 1);
            // Sequence 0 repeats prefix token 5, sequence 1 prefix token 50: each stream's attention goes to its own cell.
            capture.BeginCapture(60);
            long calls = ctx.DecodeCalls;
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 60, [prefix[5], prefix[5]], 0, false), new DecodeJob(1, 60, [prefix[50], prefix[50]], 1, false)], null, default);
            capture.EndCapture();
            capture.ThrowIfFailed();
            Assert.Equal(1, ctx.DecodeCalls - calls);
            var a = capture.Result(0)!;
            var b = capture.Result(1)!;
            Assert.True(a.Cells[5] > 10 * a.Cells[50], $"sequence 0: cell 5 {a.Cells[5]}, cell 50 {a.Cells[50]}");
            Assert.True(b.Cells[50] > 10 * b.Cells[5], $"sequence 1: cell 50 {b.Cells[50]}, cell 5 {b.Cells[5]}");
        }
    }

    [Fact]
    public void AttachRefusesAContextWithAnotherCallback()
    {
        using var capture = new AttentionCapture();
        using var model = LlamaModel.Load(IcrTestData.MatchModel);
        using var ctx = new InferenceContext(model, new ContextConfig(1, 256, 64, 64, false, 1));
        Assert.Throws<ArgumentException>(() => capture.Attach(ctx));
    }
}
