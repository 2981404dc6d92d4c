using System.Globalization;

namespace FastRank.Gguf;

/// <summary>
/// Semantic validation of a structurally valid GGUF file, run on every model load path before llama.cpp
/// sees the file. <see cref="GgufReader"/> guarantees the layout (bounds, counts, offsets, types); this
/// checks what llama.cpp's model loader (the build LLamaSharp 0.30.0 ships) would stop the process on
/// with <c>GGML_ASSERT</c>/<c>GGML_ABORT</c> or an exception escaping a C entry point: the vocabulary
/// (duplicate entries, missing byte tokens, short score/type arrays, malformed merges, special ids out of
/// range), the hyperparameters (layer and expert counts, head counts and their divisibility, head and RoPE
/// dimensions, RoPE scaling type, per-layer arrays) and the tensors the hyperparameters describe. Faults
/// llama.cpp reports as a C++ exception (caught inside <c>llama_model_load</c>) are left to it: they come
/// back as <see cref="ModelLoadException"/>. docs/readme/reliability-gguf.md lists every rule and what is
/// not covered.
/// </summary>
public static class GgufModelValidator
{
    /// <summary>LLAMA_MAX_LAYERS of the llama.cpp build.</summary>
    public const int MaxLayers = 512;

    /// <summary>LLAMA_MAX_EXPERTS of the llama.cpp build.</summary>
    public const int MaxExperts = 512;

    // llama_rope_scaling_type_from_string: anything else is UNSPECIFIED, which load_hparams asserts against.
    private static readonly string[] RopeScalingTypes = ["none", "linear", "yarn", "longrope"];

    // The architectures whose graph builders assert n_embd_head_k == n_embd_head_v == n_rot (llama.cpp
    // src/models/*.cpp). Those FastRank ships presets for, and their close relatives.
    private static readonly HashSet<string> FullRotaryArchitectures = new(StringComparer.Ordinal)
    {
        "llama", "llama4", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "mistral3", "granite", "granitemoe",
        "deci", "llama-embed",
    };

    // Every key llama.cpp reads a special token id from (tokenizer.ggml.*).
    private static readonly string[] SpecialTokenKeys =
    [
        "bos_token_id", "eos_token_id", "eot_token_id", "eom_token_id", "unknown_token_id", "seperator_token_id",
        "padding_token_id", "mask_token_id", "fim_pre_token_id", "fim_suf_token_id", "fim_mid_token_id",
        "fim_pad_token_id", "fim_rep_token_id", "fim_sep_token_id", "prefix_token_id", "suffix_token_id", "middle_token_id",
    ];

    /// <summary>Checks <paramref name="file"/>; returns normally when llama.cpp can be given it.</summary>
    /// <exception cref="GgufModelException">The file's contents would make llama.cpp abort, or contradict each other.</exception>
    public static void Validate(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        new Checker(file).Run();
    }

    private sealed class Checker(GgufFile f)
    {
        private string Arch => f.Architecture ?? "";

        private GgufModelException Fail(GgufModelProblem kind, string problem, string? key = null, string? tensor = null)
        {
            long at = 0;
            if (key is not null && f.KeyOffsets.TryGetValue(key, out long k)) at = k;
            else if (tensor is not null && f.TensorInfoOffsets.TryGetValue(tensor, out long t)) at = t;
            return new GgufModelException(kind, problem, at, f.FilePath);
        }

        public void Run()
        {
            // general.architecture is what llama.cpp dispatches on; an absent or unknown one is its own
            // typed error (llama.cpp throws "unknown model architecture").
            if (f.Metadata.TryGetValue("general.architecture", out var archEntry) && archEntry.Value is not string)
                throw Fail(GgufModelProblem.HyperParameter, $"general.architecture is a {archEntry.Type}, not a string", "general.architecture");
            CheckMetadataStrings();
            int nVocab = CheckVocabulary();
            if (f.Architecture is null || f.Tensors.Count == 0) return;
            CheckHyperParameters(out long nEmbd);
            CheckTensors(nVocab, nEmbd);
        }

        // ---- metadata strings ----

        // llama.cpp hands string values around as C strings (gguf_get_val_str, llama_model_meta_val_str): a NUL byte
        // ends the value there, so llama.cpp would dispatch on another architecture or tokenizer than the one checked
        // here. LLamaSharp 0.30.0 reads every value when it loads a model (SafeLlamaModelHandle.ReadMetadata) and throws
        // ArgumentNullException on an empty one (a value that is empty, or starts with NUL, as a C string); the AFL
        // campaign found that one (a rerank template starting with NUL).
        private void CheckMetadataStrings()
        {
            foreach (var e in f.MetadataList)
            {
                if (e.Value is not string s) continue;
                int nul = s.IndexOf('\0', StringComparison.Ordinal);
                if (nul >= 0)
                    throw Fail(GgufModelProblem.MetadataString,
                        $"{e.Key} holds a NUL byte at character {nul}; llama.cpp reads it as '{Printable(s[..nul])}'", e.Key);
                if (s.Length == 0)
                    throw Fail(GgufModelProblem.MetadataString, $"{e.Key} is an empty string, which LLamaSharp 0.30.0 cannot read", e.Key);
            }
        }

        // ---- vocabulary (llama-vocab.cpp, llama_vocab::impl::load and the tokenizers) ----

        private int CheckVocabulary()
        {
            string? model = StringValue("tokenizer.ggml.model", GgufModelProblem.Vocabulary);
            if (model is null || model is "no_vocab" or "none") return -1;
            const string tokensKey = "tokenizer.ggml.tokens";
            if (!f.Metadata.TryGetValue(tokensKey, out var te))
                throw Fail(GgufModelProblem.Vocabulary, $"tokenizer.ggml.model is '{model}' but the file has no {tokensKey}", "tokenizer.ggml.model");
            if (te.Value is not GgufArray { Values: string[] tokens })
                throw Fail(GgufModelProblem.Vocabulary, $"{tokensKey} must be an array of strings, found {Describe(te)}", tokensKey);
            if (tokens.Length == 0) throw Fail(GgufModelProblem.Vocabulary, $"{tokensKey} is empty", tokensKey);

            // Duplicates: llama.cpp maps text -> id and asserts the map is as large as the list. It reads each entry as a
            // C string (a NUL byte ends it: "a\0b" is "a", found by the AFL campaign's follow-up), and an entry empty
            // then is renamed "[EMPTY_<id>]", which can itself collide. The map below holds the texts llama.cpp sees.
            var ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
            for (int i = 0; i < tokens.Length; i++)
            {
                string text = AsCString(tokens[i]);
                if (text.Length == 0) text = $"[EMPTY_{i.ToString(CultureInfo.InvariantCulture)}]";
                if (!ids.TryAdd(text, i))
                {
                    string read = (tokens[i] + tokens[ids[text]]).Contains('\0', StringComparison.Ordinal) ? " as llama.cpp reads them (up to a NUL byte)" : "";
                    throw Fail(GgufModelProblem.DuplicateToken,
                        $"vocabulary entries {ids[text]} and {i} are both '{Printable(text)}'{read} (llama.cpp aborts on duplicate tokens)", tokensKey);
                }
            }

            CheckParallelArray("tokenizer.ggml.scores", tokens.Length, GgufValueType.Float32, GgufValueType.Int32);
            CheckParallelArray("tokenizer.ggml.token_type", tokens.Length, GgufValueType.Int32, null);

            switch (model)
            {
                case "llama": // SentencePiece: unknown characters fall back to <0xNN> tokens, looked up with .at()
                    for (int b = 0; b < 256; b++)
                    {
                        string piece = $"<0x{b:X2}>";
                        if (!ids.ContainsKey(piece))
                            throw Fail(GgufModelProblem.MissingByteToken,
                                $"SentencePiece vocabulary lacks the byte token '{piece}' (llama.cpp aborts when a text needs it)", tokensKey);
                    }
                    break;
                case "gpt2": // byte-level BPE: every byte has its printable stand-in
                    for (int b = 0; b < 256; b++)
                    {
                        string piece = ByteLevel[b];
                        if (!ids.ContainsKey(piece))
                            throw Fail(GgufModelProblem.MissingByteToken,
                                $"byte-level BPE vocabulary lacks the token '{Printable(piece)}' for byte 0x{b:X2} (llama.cpp aborts when a text needs it)", tokensKey);
                    }
                    CheckMerges(ids);
                    break;
                case "gemma4" or "hybriddna" or "whitespace":
                    CheckMerges(ids);
                    break;
                case "t5":
                    CheckCharsMap();
                    break;
            }

            foreach (string k in SpecialTokenKeys)
            {
                string key = "tokenizer.ggml." + k;
                if (!f.Metadata.ContainsKey(key)) continue;
                long? id = f.GetInteger(key);
                if (id is null)
                    throw Fail(GgufModelProblem.SpecialToken, $"{key} must be an integer, found {Describe(f.Metadata[key])}", key);
                if (id < 0 || id >= tokens.Length)
                    throw Fail(GgufModelProblem.SpecialToken, $"{key} = {id} is outside the vocabulary of {tokens.Length} tokens", key);
            }
            return tokens.Length;
        }

        private void CheckParallelArray(string key, int n, GgufValueType type, GgufValueType? alternative)
        {
            if (!f.Metadata.TryGetValue(key, out var e)) return;
            if (e.Value is not GgufArray a || (a.ElementType != type && a.ElementType != alternative))
                throw Fail(GgufModelProblem.TokenArrayLength,
                    $"{key} must be an array of {type}{(alternative is { } alt ? $" or {alt}" : "")}, found {Describe(e)}", key);
            if (a.Count < n)
                throw Fail(GgufModelProblem.TokenArrayLength, $"{key} has {a.Count} entries for a vocabulary of {n} tokens", key);
        }

        private void CheckMerges(Dictionary<string, int> ids)
        {
            const string key = "tokenizer.ggml.merges";
            if (!f.Metadata.TryGetValue(key, out var e)) return; // llama.cpp throws "cannot find tokenizer merges"
            if (e.Value is not GgufArray { Values: string[] merges })
                throw Fail(GgufModelProblem.Merge, $"{key} must be an array of strings, found {Describe(e)}", key);
            for (int i = 0; i < merges.Length; i++)
            {
                string m = merges[i];
                int sp = m.Length > 1 ? m.IndexOf(' ', 1) : -1;
                if (sp < 0 || sp == m.Length - 1 || m.IndexOf(' ', sp + 1) >= 0)
                    throw Fail(GgufModelProblem.Merge, $"merge #{i} '{Printable(m)}' is not two pieces separated by one space", key);
                string left = m[..sp], right = m[(sp + 1)..];
                if (!ids.ContainsKey(left) || !ids.ContainsKey(right))
                    throw Fail(GgufModelProblem.Merge,
                        $"merge #{i} '{Printable(m)}' names '{Printable(ids.ContainsKey(left) ? right : left)}', which is not in the vocabulary", key);
            }
        }

        private void CheckCharsMap()
        {
            const string key = "tokenizer.ggml.precompiled_charsmap";
            if (!f.Metadata.TryGetValue(key, out var e)) return;
            if (e.Value is not GgufArray { ElementType: GgufValueType.UInt8 or GgufValueType.Int8 } a)
                throw Fail(GgufModelProblem.CharsMap, $"{key} must be an array of bytes, found {Describe(e)}", key);
            if (a.Count < 4) throw Fail(GgufModelProblem.CharsMap, $"{key} has {a.Count} bytes, too few for its header", key);
            Span<byte> head = stackalloc byte[4];
            for (int i = 0; i < 4; i++) head[i] = a.Values is byte[] u ? u[i] : (byte)((sbyte[])a.Values)[i];
            ulong blob = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(head);
            if (blob + 4 >= (ulong)a.Count || blob % 4 != 0)
                throw Fail(GgufModelProblem.CharsMap, $"{key} claims a {blob}-byte trie in {a.Count} bytes", key);
        }

        // ---- hyperparameters (llama-model.cpp, load_hparams; graph asserts of src/models/*.cpp) ----

        private void CheckHyperParameters(out long nEmbd)
        {
            // A missing required key (or an architecture llama.cpp does not know, whose keys are all "missing") is
            // llama.cpp's own typed error; the checks below need the three.
            nEmbd = 0;
            if (RequiredInt("block_count") is not { } layers || RequiredInt("context_length") is not { } ctx
                || RequiredInt("embedding_length") is not { } embd)
                return;
            nEmbd = embd;
            if (layers is < 1 or > MaxLayers)
                throw Fail(GgufModelProblem.HyperParameter, $"{Arch}.block_count = {layers} (1..{MaxLayers} allowed)", $"{Arch}.block_count");
            if (ctx < 1) throw Fail(GgufModelProblem.HyperParameter, $"{Arch}.context_length = {ctx} (at least 1)", $"{Arch}.context_length");
            if (nEmbd is < 1 or > int.MaxValue)
                throw Fail(GgufModelProblem.HyperParameter, $"{Arch}.embedding_length = {nEmbd}", $"{Arch}.embedding_length");

            long experts = OptionalInt("expert_count") ?? 0, used = OptionalInt("expert_used_count") ?? 0;
            long groups = OptionalInt("expert_group_count") ?? 0, groupUsed = OptionalInt("expert_group_used_count") ?? 0;
            string? expertFault =
                experts > MaxExperts ? $"expert_count = {experts} exceeds {MaxExperts}"
                : used > experts ? $"expert_used_count = {used} exceeds expert_count = {experts}"
                : experts > 0 && used == 0 ? "expert_count > 0 but expert_used_count is 0"
                : experts > 0 && groups >= experts ? $"expert_group_count = {groups} is not below expert_count = {experts}"
                : experts > 0 && groups > 1 && experts % groups != 0 ? $"expert_count = {experts} is not a multiple of expert_group_count = {groups}"
                : experts > 0 && groups > 1 && (groupUsed == 0 || groupUsed >= groups) ? $"expert_group_used_count = {groupUsed} must be in 1..{groups - 1}"
                : experts == 0 && groups != 0 ? "expert_group_count without experts"
                : null;
            if (expertFault is not null) throw Fail(GgufModelProblem.HyperParameter, $"{Arch}: {expertFault}", $"{Arch}.expert_count");

            // Float hyperparameters: ggml asserts eps >= 0 in its norms (a NaN fails it too); no model has a
            // non-finite one.
            foreach (var e in f.MetadataList)
            {
                if (e.Value is not float x || !e.Key.StartsWith(Arch + ".", StringComparison.Ordinal)) continue;
                if (!float.IsFinite(x) || (x < 0 && e.Key.EndsWith("epsilon", StringComparison.Ordinal)))
                    throw Fail(GgufModelProblem.HyperParameter, $"{e.Key} = {x.ToString(CultureInfo.InvariantCulture)}", e.Key);
            }

            // Arrays llama.cpp reads with get_arr into a fixed element type: the wrong element type is a GGML_ASSERT.
            CheckArrayType($"{Arch}.classifier.output_labels", GgufValueType.String);
            CheckArrayType($"{Arch}.rope.dimension_sections", GgufValueType.Int32, GgufValueType.UInt32);

            string ropeKey = $"{Arch}.rope.scaling.type";
            if (f.Metadata.TryGetValue(ropeKey, out var rs) && (rs.Value is not string rsv || Array.IndexOf(RopeScalingTypes, rsv) < 0))
                throw Fail(GgufModelProblem.HyperParameter,
                    $"{ropeKey} is {Describe(rs)}; llama.cpp knows {string.Join(", ", RopeScalingTypes)} and aborts on anything else", ropeKey);

            long[] heads = PerLayer("attention.head_count", layers, 0)!;
            long[] kvHeads = PerLayer("attention.head_count_kv", layers, null) ?? heads;
            PerLayer("feed_forward_length", layers, 0);
            long head0 = heads[0];
            if (head0 <= 0) return; // not an attention model (llama.cpp skips head sizes)

            long keyLen = OptionalInt("attention.key_length") ?? nEmbd / head0;
            long valLen = OptionalInt("attention.value_length") ?? nEmbd / head0;
            long rot = OptionalInt("rope.dimension_count") ?? keyLen;
            if (keyLen < 1 || valLen < 1)
                throw Fail(GgufModelProblem.HyperParameter, $"{Arch}: head size {keyLen}/{valLen} (embedding_length {nEmbd}, {head0} heads)", $"{Arch}.attention.head_count");
            if (rot < 0 || rot > keyLen || rot % 2 != 0)
                throw Fail(GgufModelProblem.HyperParameter, $"{Arch}.rope.dimension_count = {rot} must be even and at most the head size {keyLen}", $"{Arch}.rope.dimension_count");
            if (FullRotaryArchitectures.Contains(Arch))
            {
                if (keyLen != valLen)
                    throw Fail(GgufModelProblem.HyperParameter, $"{Arch}: key head size {keyLen} differs from value head size {valLen} (llama.cpp asserts they are equal)", $"{Arch}.attention.key_length");
                if (rot != keyLen)
                    throw Fail(GgufModelProblem.HyperParameter, $"{Arch}.rope.dimension_count = {rot} differs from the head size {keyLen} (llama.cpp asserts they are equal)", $"{Arch}.rope.dimension_count");
            }
            for (int il = 0; il < layers; il++)
            {
                long h = heads[il], k = kvHeads[il];
                if (h == 0) continue; // a layer without attention (hybrid models)
                if (h < 0 || k <= 0 || h % k != 0)
                    throw Fail(GgufModelProblem.HyperParameter,
                        $"{Arch}: layer {il} has {h} heads and {k} key/value heads (the key/value heads must divide the heads)", $"{Arch}.attention.head_count_kv");
                if (h * Math.Max(keyLen, valLen) > int.MaxValue)
                    throw Fail(GgufModelProblem.HyperParameter, $"{Arch}: layer {il} attention width {h} x {keyLen} overflows", $"{Arch}.attention.head_count");
            }
        }

        private void CheckArrayType(string key, GgufValueType type, GgufValueType? alternative = null)
        {
            if (!f.Metadata.TryGetValue(key, out var e)) return;
            if (e.Value is not GgufArray a || (a.ElementType != type && a.ElementType != alternative))
                throw Fail(GgufModelProblem.HyperParameter, $"{key} must be an array of {type}, found {Describe(e)}", key);
        }

        private long[]? PerLayer(string suffix, long layers, long? absent)
        {
            string key = $"{Arch}.{suffix}";
            var result = new long[layers];
            if (!f.Metadata.TryGetValue(key, out var e))
            {
                if (absent is null) return null;
                Array.Fill(result, absent.Value);
                return result;
            }
            if (e.Value is GgufArray a)
            {
                // llama.cpp's get_key_or_arr asserts (GGML_ASSERT, not an exception) that an int32/uint32
                // array is read into integers and a float32 one into floats.
                if (a.ElementType is not (GgufValueType.Int32 or GgufValueType.UInt32))
                    throw Fail(GgufModelProblem.HyperParameter, $"{key} is an array of {a.ElementType}; per-layer values are int32 or uint32", key);
                if (a.Count != layers)
                    throw Fail(GgufModelProblem.HyperParameter, $"{key} has {a.Count} per-layer values for {layers} layers", key);
                for (int i = 0; i < a.Count; i++)
                    result[i] = ToInteger(a.Values.GetValue(i)) ?? throw Fail(GgufModelProblem.HyperParameter, $"{key} must hold integers, found {a.ElementType}", key);
            }
            else
            {
                Array.Fill(result, f.GetInteger(key) ?? throw Fail(GgufModelProblem.HyperParameter, $"{key} must be an integer, found {Describe(e)}", key));
            }
            foreach (long v in result)
                if (v is < 0 or > int.MaxValue) throw Fail(GgufModelProblem.HyperParameter, $"{key} has value {v}", key);
            return result;
        }

        // ---- tensors against the hyperparameters (llama-model-loader.cpp create_tensor; ggml ops) ----

        private void CheckTensors(int nVocab, long nEmbd)
        {
            foreach (var t in f.Tensors)
            {
                // Norms and biases: the converters and llama.cpp's quantizer always write them f32; a
                // quantized or integer one reaches ggml's element-wise ops, which abort on it.
                // (an i32 ffn_norm.weight was a SIGSEGV in the fuzz campaign).
                bool parameter = t.Name.EndsWith(".weight", StringComparison.Ordinal) || t.Name.EndsWith(".bias", StringComparison.Ordinal);
                bool vector = t.Dimensions.Length == 1 || t.Name.EndsWith("_norm.weight", StringComparison.Ordinal);
                if (vector && parameter && t.Type != GgmlType.F32)
                    throw Fail(GgufModelProblem.TensorType, $"tensor '{t.Name}' is a vector of type {t.Type}; norms and biases must be f32", tensor: t.Name);
                // Types with no matrix-multiplication (or row lookup) kernel: ggml crashes in the first decode (an
                // i32 attn_v.weight, same size as f32, was a SIGSEGV in the fuzz campaign).
                if (!vector && t.Name.EndsWith(".weight", StringComparison.Ordinal)
                    && t.Type is GgmlType.Q8_1 or GgmlType.Q8_K or GgmlType.F64 or GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64)
                    throw Fail(GgufModelProblem.TensorType, $"weight '{t.Name}' has type {t.Type}, which ggml cannot multiply", tensor: t.Name);
            }
            var embd = f.Tensors.FirstOrDefault(t => t.Name == "token_embd.weight");
            if (embd is null || nVocab < 0 || nEmbd <= 0 || !FullRotaryArchitectures.Contains(Arch)) return;
            if (embd.Dimensions.Length != 2 || embd.Dimensions[0] != nEmbd || embd.Dimensions[1] != nVocab)
                throw Fail(GgufModelProblem.TensorShape,
                    $"token_embd.weight is [{string.Join(", ", embd.Dimensions)}], expected [{nEmbd}, {nVocab}] (embedding_length x vocabulary)", tensor: embd.Name);
        }

        // ---- helpers ----

        private long? RequiredInt(string suffix)
        {
            string key = $"{Arch}.{suffix}";
            if (!f.Metadata.TryGetValue(key, out var e)) return null;
            return f.GetInteger(key) ?? throw Fail(GgufModelProblem.HyperParameter, $"{key} must be an integer, found {Describe(e)}", key);
        }

        private long? OptionalInt(string suffix)
        {
            string key = $"{Arch}.{suffix}";
            if (!f.Metadata.TryGetValue(key, out var e)) return null;
            long v = f.GetInteger(key) ?? throw Fail(GgufModelProblem.HyperParameter, $"{key} must be an integer, found {Describe(e)}", key);
            if (v is < 0 or > int.MaxValue) throw Fail(GgufModelProblem.HyperParameter, $"{key} = {v} is out of range", key);
            return v;
        }

        private string? StringValue(string key, GgufModelProblem kind)
        {
            if (!f.Metadata.TryGetValue(key, out var e)) return null;
            return e.Value as string ?? throw Fail(kind, $"{key} must be a string, found {Describe(e)}", key);
        }

        private static long? ToInteger(object? v) => v switch
        {
            byte x => x, sbyte x => x, ushort x => x, short x => x, uint x => x, int x => x, long x => x,
            ulong x => x <= long.MaxValue ? (long)x : null,
            _ => null,
        };

        private static string Describe(GgufMetadataEntry e) => e.Value switch
        {
            GgufArray a => $"an array of {a.Count} {a.ElementType}",
            string s => $"the string '{Printable(s)}'",
            _ => $"{e.Type} {Convert.ToString(e.Value, CultureInfo.InvariantCulture)}",
        };

        private static string AsCString(string s)
        {
            int nul = s.IndexOf('\0', StringComparison.Ordinal);
            return nul < 0 ? s : s[..nul];
        }

        private static string Printable(string s)
        {
            if (s.Length > 40) s = s[..40] + "...";
            return string.Concat(s.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString()));
        }
    }

    // GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others map to U+0100 upwards.
    private static readonly string[] ByteLevel = BuildByteLevel();

    private static string[] BuildByteLevel()
    {
        var map = new string[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? ((char)b).ToString() : ((char)(256 + n++)).ToString();
        }
        return map;
    }
}
