using System.Globalization;
using System.Text;

namespace FastRank.Tests.Fidelity;

/// <summary>
/// Varied texts for the tokenizer comparisons, generated deterministically: many scripts, emoji (ZWJ sequences, flags,
/// skin tones, keycaps), whitespace runs, tabs, CR LF, trailing spaces, digits and long numbers, code, contractions in
/// every case, URLs, and text that spells the vocabularies' control and marker tokens.
/// </summary>
public static class FidelityTexts
{
    /// <summary>One text and the category it was drawn from.</summary>
    public sealed record Sample(string Category, string Text);

    private static readonly string[] English =
    [
        "the", "committee", "approved", "budget", "after", "a", "long", "discussion", "about", "schools", "roads", "and", "public", "health",
        "river", "meets", "sea", "near", "old", "harbour", "town", "volcano", "rises", "above", "plain", "Paris", "capital", "France",
        "reranking", "tokenizer", "vocabulary", "quickly", "jumped", "over", "lazy", "dog", "Internationalization", "HTTP", "JSON", "iPhone",
    ];

    private static readonly string[] Accented =
    [
        "café", "naïve", "Zürich", "Straße", "Ærøskøbing", "façade", "résumé", "Ångström", "mañana", "São", "Paulo", "Kraków", "Łódź",
        "Dvořák", "Việt", "Nam", "tiếng", "Việt", "Ísland", "Þingvellir", "œuvre", "coöperate", "El Niño", "Müller", "Genève", "İstanbul",
    ];

    private static readonly string[] Scripts =
    [
        "Привет, как дела? Москва — столица России.", "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "Γειά σου Κόσμε! Η Αθήνα είναι πρωτεύουσα.", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
        "مرحبا بالعالم. القاهرة هي عاصمة مصر.", "اللغة العربية جميلة جداً ١٢٣٤٥",
        "שלום עולם! ירושלים היא עיר עתיקה.", "עברית נכתבת מימין לשמאל",
        "नमस्ते दुनिया। दिल्ली भारत की राजधानी है।", "हिन्दी में संयुक्ताक्षर क्षत्रिय ज्ञान",
        "สวัสดีชาวโลก กรุงเทพมหานครเป็นเมืองหลวง", "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
        "你好，世界！北京是中国的首都。", "我想在apple工作1314151天～", "日本語のテキストと漢字、ひらがな、カタカナ。",
        "東京は日本の首都です。", "안녕하세요 세계! 서울은 한국의 수도입니다.", "한국어 형태소 분석기",
        "Tiếng Việt có dấu: Hà Nội, Sài Gòn.", "Ελληνικά και English μαζί", "Українська мова: їжак, ґава, є.",
        "ქართული ენა", "Հայերեն լեզու", "தமிழ் மொழி", "বাংলা ভাষা", "ਪੰਜਾਬੀ", "ગુજરાતી", "ಕನ್ನಡ", "മലയാളം", "සිංහල",
        "አማርኛ", "ᚠᚢᚦᚨᚱᚲ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙", "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ", "ﬁ ﬂ ligatures", "Ⅻ ½ ² ℃ №",
    ];

    private static readonly string[] Emoji =
    [
        "🚀", "😶\u200d🌫️", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "🇫🇷", "🇯🇵🇺🇸", "👍🏽", "1️⃣", "❤️", "✅", "🦙🦙", "🧑🏿\u200d💻",
        "😁", "🎉", "🙏", "🤖", "☕", "⭐️", "©", "™", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",
    ];

    private static readonly string[] Contractions =
    [
        "it's", "IT'S", "It'S", "don't", "DON'T", "Don'T", "you're", "YOU'RE", "You'Re", "we've", "WE'VE", "We'Ve", "I'm", "I'M",
        "we'll", "WE'LL", "We'lL", "he'd", "HE'D", "He'D", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M",
        "'LL", "'D", "it’s", "don’t", "rock'n'roll", "o'clock", "'quoted'", "''", "'''", "a'lL",
    ];

    private static readonly string[] Code =
    [
        "public static int Add(int a, int b) => a + b;", "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; i++) { sum += a[i]; }",
        "{\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}", "<div class=\"main\"><p>Hello &amp; welcome</p></div>",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;", "const re = /^[a-z0-9_-]{3,16}$/i;", "x != y && y <= z || !w",
        "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }", "    indented\n\tTabbed\n  \t mixed", "a->b::c<<d>>e", "$HOME/.cache && echo $?",
        "if __name__ == \"__main__\":\n    main()", "let v: Vec<u8> = vec![0xFF, 0x00];", "// comment\n/* block */", "====== ------ ****** ######",
    ];

    private static readonly string[] Urls =
    [
        "https://example.com/path/to/page?query=1&lang=en#section", "http://localhost:8080/api/v1/rerank", "www.wikipedia.org/wiki/Paris",
        "mailto:someone@example.org", "ftp://files.example.net/pub/file-1.2.3.tar.gz", "https://huggingface.co/Qwen/Qwen3-Reranker-0.6B",
        "user.name+tag@sub.domain.co.uk", "C:\\Users\\Public\\Documents\\report.docx", "/usr/local/lib/libllama.so", "git@github.com:ggml-org/llama.cpp.git",
    ];

    /// <summary>Spellings of control tokens (CONTROL in the GGUF: HF parses them in text, llama.cpp does not).</summary>
    public static readonly string[] ControlSpellings =
    [
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
        "<|end_header_id|>", "<|fim_prefix|>", "<|vision_start|>", "<|reserved_special_token_5|>", "<|python_tag|>", "<|eom_id|>", "<|finetune_right_pad_id|>",
    ];

    /// <summary>Spellings of Qwen3's USER_DEFINED marker tokens (llama.cpp matches them even with special parsing off, as HF does).</summary>
    public static readonly string[] MarkerSpellings = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"];

    /// <summary>All added-token spellings of both vocabularies.</summary>
    public static IEnumerable<string> AddedSpellings => ControlSpellings.Concat(MarkerSpellings);

    /// <summary>Decomposed (NFD) spellings: Qwen3's tokenizer normalizes to NFC first, llama.cpp does not.</summary>
    public static readonly string[] Decomposed =
    [
        "cafe\u0301", "nai\u0308ve", "Zu\u0308rich", "man\u0303ana", "A\u030Angstro\u0308m", "tie\u0302\u0301ng Vie\u0323\u0302t", "\u1100\u1161\u11A8",
    ];

    private static readonly string[] Spaces = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r\n\r\n", " \n ", "\u00A0", "\u3000", "\u2009", "\u200B", "\f", "\v"];

    /// <summary>The texts: at least <paramref name="count"/>, the same on every run.</summary>
    public static IReadOnlyList<Sample> All(int count = 1200)
    {
        var random = new Random(20261202);
        var list = new List<Sample>
        {
            new("edge", ""), new("edge", " "), new("edge", "\n"), new("edge", "\t"), new("edge", "  "), new("edge", "a"), new("edge", "yes"), new("edge", "no"),
            new("edge", " yes"), new("edge", "Yes"), new("edge", "<"), new("edge", "<|"), new("edge", "|>"), new("edge", "<>"), new("edge", "<think"),
            new("edge", "The quick brown fox jumps over the lazy dog."),
        };
        foreach (string s in Scripts) list.Add(new("script", s));
        foreach (string e in Emoji) list.Add(new("emoji", e));
        foreach (string c in Contractions) list.Add(new("contraction", c));
        foreach (string c in Code) list.Add(new("code", c));
        foreach (string u in Urls) list.Add(new("url", u));
        foreach (string t in AddedSpellings) list.Add(new("special", t));
        foreach (string d in Decomposed) list.Add(new("nfd", d));

        string Pick(string[] pool) => pool[random.Next(pool.Length)];
        string Words(string[] pool, int n) => string.Join(' ', Enumerable.Range(0, n).Select(_ => Pick(pool)));
        string Number() => random.Next(6) switch
        {
            0 => random.NextInt64(0, long.MaxValue).ToString(CultureInfo.InvariantCulture),
            1 => (random.NextDouble() * 1000).ToString("F" + random.Next(1, 6), CultureInfo.InvariantCulture),
            2 => random.Next(1_000, 10_000_000).ToString("N0", CultureInfo.InvariantCulture),
            3 => $"{random.Next(1900, 2100)}-{random.Next(1, 13):D2}-{random.Next(1, 29):D2}",
            4 => $"+{random.Next(1, 99)} {random.Next(100, 999)} {random.Next(1000, 9999)}",
            _ => new string('3', random.Next(1, 12)),
        };
        var generators = new (string Category, Func<string> Make)[]
        {
            ("english", () => Words(English, random.Next(1, 25)) + Pick([".", "!", "?", "", " ", "\n"])),
            ("accented", () => Words(Accented, random.Next(1, 12))),
            ("script", () => Pick(Scripts) + Pick(Spaces) + Pick(Scripts)),
            ("emoji", () => Words(English, random.Next(0, 4)) + Pick(["", " "]) + string.Concat(Enumerable.Range(0, random.Next(1, 5)).Select(_ => Pick(Emoji) + Pick(["", " "])))),
            ("whitespace", () => string.Concat(Enumerable.Range(0, random.Next(1, 8)).Select(_ => Pick(Spaces) + (random.Next(2) == 0 ? Pick(English) : "")))),
            ("trailing", () => Words(English, random.Next(1, 8)) + new string(' ', random.Next(1, 6)) + Pick(["", "\n", "\r\n", "\t"])),
            ("digits", () => string.Join(Pick([" ", ", ", "", "\n", "."]), Enumerable.Range(0, random.Next(1, 6)).Select(_ => Number()))),
            ("code", () => Pick(Code) + Pick(Spaces) + Pick(Code)),
            ("contraction", () => string.Join(' ', Enumerable.Range(0, random.Next(1, 8)).Select(_ => random.Next(3) == 0 ? Pick(English) : Pick(Contractions)))),
            ("url", () => Words(English, random.Next(0, 5)) + " " + Pick(Urls) + Pick([".", "", ")", " and more"])),
            ("mixed", () => string.Concat(Enumerable.Range(0, random.Next(2, 10)).Select(_ => random.Next(7) switch
            {
                0 => Pick(English), 1 => Pick(Accented), 2 => Pick(Scripts), 3 => Pick(Emoji), 4 => Pick(Spaces), 5 => Number(), _ => Pick(Contractions),
            }))),
            ("special", () => Words(English, random.Next(0, 5)) + Pick(["", " ", "\n"]) + Pick([.. AddedSpellings]) + Pick(["", " ", "\n"]) + Words(English, random.Next(0, 5))),
            ("marker", () => Words(English, random.Next(0, 4)) + Pick(["", " ", "\n"]) + Pick(MarkerSpellings) + Pick(["", " ", "\n", "\n\n"]) + Words(English, random.Next(0, 4))),
        };
        while (list.Count < count)
        {
            var (category, make) = generators[list.Count % generators.Length];
            list.Add(new(category, make()));
        }
        return list;
    }

    /// <summary>Whether <paramref name="text"/> spells any added token of either vocabulary.</summary>
    public static bool SpellsAddedToken(string text) => AddedSpellings.Any(s => text.Contains(s, StringComparison.Ordinal))
        || text.Contains("<|reserved_special_token_", StringComparison.Ordinal);

    /// <summary>A short printable form of a text for failure messages.</summary>
    public static string Show(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (var r in text.EnumerateRunes())
        {
            if (r.Value < 0x20 || r.Value is 0x7F or 0x200B or 0x200D or 0xFE0F or 0x00A0 or 0x3000 or 0x2009) sb.Append(CultureInfo.InvariantCulture, $"\\u{r.Value:X4}");
            else sb.Append(r.ToString());
        }
        return sb.Append('"').ToString();
    }
}
