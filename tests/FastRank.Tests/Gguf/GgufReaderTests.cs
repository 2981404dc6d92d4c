using System.Buffers.Binary;
using System.Text;
using FastRank.Gguf;

namespace FastRank.Tests.Gguf;

public sealed class GgufReaderTests
{
    [Fact]
    public void RoundTripPreservesMetadataAndTensors()
    {
        var f = GgufTestFiles.Read(GgufTestFiles.Valid());
        Assert.Equal(3u, f.Version);
        Assert.Equal("llama", f.Architecture);
        Assert.Equal(7L, f.GetInteger("test.u32"));
        Assert.Equal(1.5, f.GetFloat("test.f32"));
        Assert.Equal(true, f.Metadata["test.bool"].Value);
        Assert.Equal(new[] { "a", "bc", "déf" }, (string[])f.GetArray("test.strings")!.Values);
        Assert.Equal(new[] { 1, -2, 3 }, (int[])f.GetArray("test.ints")!.Values);
        Assert.Equal(2, f.Tensors.Count);
        Assert.Equal("a.weight", f.Tensors[0].Name);
        Assert.Equal(new long[] { 4, 2 }, f.Tensors[0].Dimensions);
        Assert.Equal(32, f.Tensors[0].ByteSize);
        Assert.Equal(32, f.Tensors[1].Offset); // 32 bytes, padded to the 32-byte alignment
        Assert.Equal(0, f.DataOffset % 32);
    }

    [Fact]
    public void TensorDataIsWhereTheHeaderSays()
    {
        byte[] bytes = GgufTestFiles.Valid();
        var f = GgufTestFiles.Read(bytes);
        var t = f.Tensors[1];
        var data = bytes.AsSpan((int)(f.DataOffset + t.Offset), (int)t.ByteSize);
        Assert.Equal(new[] { 1f, 2f, 3f }, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data).ToArray());
    }

    [Fact]
    public void WrongMagicIsRejectedAtOffsetZero()
    {
        byte[] bytes = GgufTestFiles.Valid();
        bytes[0] = (byte)'X';
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(0, ex.Offset);
        Assert.Contains("magic", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(4u)]
    public void UnsupportedVersionsAreRejected(uint version)
    {
        byte[] bytes = GgufTestFiles.Valid();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), version);
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(4, ex.Offset);
        Assert.Contains("version", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(8)]  // tensor count
    [InlineData(16)] // metadata count
    public void AbsurdCountsAreRejectedBeforeAllocating(int at)
    {
        byte[] bytes = GgufTestFiles.Valid();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), ulong.MaxValue / 2);
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(at, ex.Offset);
        Assert.Contains("cannot fit", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AbsurdStringLengthIsRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        // The first metadata key's length sits right after the 24-byte header.
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), 1UL << 40);
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(24, ex.Offset);
    }

    [Fact]
    public void AbsurdArrayLengthIsRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        int key = IndexOf(bytes, "test.strings");
        int countAt = key + "test.strings".Length + 4 + 4; // type (array) + element type (string)
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(countAt), 1UL << 50);
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(countAt, ex.Offset);
        Assert.Contains("test.strings", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidValueTypeIsRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        int key = IndexOf(bytes, "test.u32");
        int typeAt = key + "test.u32".Length;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(typeAt), 99);
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(typeAt, ex.Offset);
    }

    [Fact]
    public void UnknownTensorTypeIsRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        int name = IndexOf(bytes, "b.weight");
        int typeAt = name + "b.weight".Length + 4 + 8; // n_dims + one dimension
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(typeAt), 31); // Q4_0_4_4, removed from ggml
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(typeAt, ex.Offset);
        Assert.Contains("ggml type 31", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("test.u32")] // a metadata key: llama.cpp finds keys with strcmp, "test\0u32" would answer for "test"
    [InlineData("b.weight")] // a tensor name: the same in ggml
    public void NulInKeyOrTensorNameIsRejected(string name)
    {
        byte[] bytes = GgufTestFiles.Valid();
        int at = IndexOf(bytes, name);
        bytes[at + 4] = 0;
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(at - 8, ex.Offset);
        Assert.Contains("NUL", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TooManyDimensionsAreRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        int name = IndexOf(bytes, "b.weight");
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(name + "b.weight".Length), 5);
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Contains("dimensions", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OutOfFileOffsetIsRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        int name = IndexOf(bytes, "b.weight");
        int offsetAt = name + "b.weight".Length + 4 + 8 + 4;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offsetAt), 1UL << 36);
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Equal(offsetAt, ex.Offset);
        Assert.Contains("b.weight", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MisalignedOffsetIsRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        int name = IndexOf(bytes, "b.weight");
        int offsetAt = name + "b.weight".Length + 4 + 8 + 4;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offsetAt), 33);
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Contains("alignment", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedDataIsRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes[..^40]));
        Assert.Contains("outside", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryTruncationIsATypedError()
    {
        byte[] bytes = GgufTestFiles.Valid();
        var f = GgufTestFiles.Read(bytes);
        long dataEnd = f.DataOffset + f.Tensors[^1].Offset + f.Tensors[^1].ByteSize;
        for (int len = 0; len < dataEnd; len++)
        {
            var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes[..len]));
            Assert.InRange(ex.Offset, 0, Math.Max(len, f.DataOffset + f.Tensors[^1].Offset));
        }
    }

    [Fact]
    public void RandomCorruptionNeverEscapesAsAnotherException()
    {
        byte[] valid = GgufTestFiles.Valid();
        var random = new Random(2024);
        int typed = 0;
        for (int trial = 0; trial < 3000; trial++)
        {
            byte[] bytes = (byte[])valid.Clone();
            int flips = 1 + random.Next(4);
            for (int i = 0; i < flips; i++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            try
            {
                GgufTestFiles.Read(bytes);
            }
            catch (GgufFormatException)
            {
                typed++;
            }
        }
        Assert.True(typed > 100, $"only {typed} of 3000 corruptions were detected; the mutation did not reach the header");
    }

    [Fact]
    public void DuplicateKeyIsRejected()
    {
        byte[] bytes = GgufTestFiles.Valid();
        int a = IndexOf(bytes, "test.u32");
        int b = IndexOf(bytes, "test.f32");
        bytes[b + 5] = (byte)'u'; // "test.f32" -> "test.u32" (same length)
        bytes[b + 6] = (byte)'3';
        bytes[b + 7] = (byte)'2';
        var ex = Assert.Throws<GgufFormatException>(() => GgufTestFiles.Read(bytes));
        Assert.Contains("duplicate", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Offset > a);
    }

    [Fact]
    public void MissingFileIsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => GgufReader.Read(Path.Combine(Path.GetTempPath(), "no-such-file.gguf")));

    private static int IndexOf(byte[] haystack, string needle)
    {
        int i = haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle));
        Assert.True(i >= 0, needle);
        return i;
    }
}
