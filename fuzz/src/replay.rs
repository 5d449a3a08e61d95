//! Replays fuzz inputs on stable Rust: `cargo run --release --bin replay -- corpus/parse_identifiers`.
//! Every file (directories are walked one level) goes through `hyperfed_fuzz::check`; a broken
//! invariant panics with the file name printed just before.

use std::path::{Path, PathBuf};

fn inputs(path: &Path, out: &mut Vec<PathBuf>) {
    match std::fs::read_dir(path) {
        Ok(dir) => {
            for entry in dir.flatten() {
                let p = entry.path();
                if p.is_file() {
                    out.push(p);
                }
            }
        }
        Err(_) => out.push(path.to_path_buf()),
    }
}

fn main() {
    let mut files = Vec::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: replay <file-or-directory>...");
        std::process::exit(2);
    }
    for a in &args {
        inputs(Path::new(a), &mut files);
    }
    files.sort();
    let mut n = 0usize;
    for f in &files {
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("cannot read {}: {e}", f.display());
                std::process::exit(2);
            }
        };
        eprintln!("{}", f.display());
        hyperfed_fuzz::check(&data);
        // Mutated variants too, so a small seed corpus still covers some ground.
        for v in hyperfed_fuzz::variants(&data) {
            hyperfed_fuzz::check(&v);
        }
        n += 1;
    }
    println!("replayed {n} inputs: all invariants hold");
}
