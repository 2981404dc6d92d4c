using FastRank.Gguf;

namespace FastRank.Tests.First;

/// <summary>Copies a GGUF file with its vocabulary's token texts rewritten (to build models that lack a token).</summary>
internal static class GgufCopy
{
    public static void WithTokens(string source, string destination, Func<string, string> rewrite)
    {
        var header = GgufReader.Read(source);
        var w = new GgufWriter();
        foreach (var e in header.MetadataList)
        {
            if (e.Key == "tokenizer.ggml.tokens" && e.Value is GgufArray { Values: string[] tokens })
                w.Add(e.Key, tokens.Select(rewrite).ToArray());
            else w.Add(e.Key, e.Type, e.Value);
        }
        foreach (var t in header.Tensors)
        {
            w.AddTensor(t.Name, t.Type, t.Dimensions, stream =>
            {
                using var fs = File.OpenRead(source);
                fs.Position = header.DataOffset + t.Offset;
                var buffer = new byte[t.ByteSize];
                fs.ReadExactly(buffer);
                stream.Write(buffer);
            });
        }
        w.Write(destination);
    }
}
