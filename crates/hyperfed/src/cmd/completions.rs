//! `hyperfed completions SHELL` and `hyperfed man DIR`: shell completion scripts and man pages
//! generated from the clap definition itself, so they never drift from the real flags.

use std::path::PathBuf;

use anyhow::Context as _;

/// The shells `hyperfed completions` writes a script for.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    /// bash (source it, or put it in /etc/bash_completion.d/hyperfed).
    Bash,
    /// zsh (save it as `_hyperfed` in a directory on $fpath).
    Zsh,
    /// fish (save it as ~/.config/fish/completions/hyperfed.fish).
    Fish,
}

/// Arguments of `hyperfed completions`.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `hyperfed man`.
#[derive(clap::Args)]
pub struct ManArgs {
    /// Directory to write hyperfed.1 and one hyperfed-<command>.1 per subcommand into
    /// (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(args: &CompletionsArgs, mut cli: clap::Command) -> anyhow::Result<()> {
    let name = cli.get_name().to_owned();
    let mut out = std::io::stdout();
    match args.shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::shells::Bash, &mut cli, name, &mut out)
        }
        Shell::Zsh => clap_complete::generate(clap_complete::shells::Zsh, &mut cli, name, &mut out),
        Shell::Fish => {
            clap_complete::generate(clap_complete::shells::Fish, &mut cli, name, &mut out)
        }
    }
    Ok(())
}

/// Writes the man pages into `args.dir` and lists what it wrote.
pub fn man(args: &ManArgs, cli: clap::Command) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("man DIR: cannot create {}", args.dir.display()))?;
    clap_mangen::generate_to(cli, &args.dir).with_context(|| {
        format!(
            "man DIR: cannot write the pages into {}",
            args.dir.display()
        )
    })?;
    let mut pages: Vec<String> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("man DIR: cannot list {}", args.dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("hyperfed") && n.ends_with(".1"))
        .collect();
    pages.sort();
    for p in pages {
        println!("{}", args.dir.join(p).display());
    }
    Ok(())
}
