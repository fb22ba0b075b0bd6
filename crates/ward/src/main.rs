use std::process::ExitCode;

use clap::Parser;

// Decoding and normalization allocate many small maps per event; mimalloc
// measurably beats the system allocator on that pattern.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ward::cli::Cli::parse();
    match ward::cli::run(cli) {
        Ok(code) => code,
        // The reader went away (`ward search ... | head -1`): nothing more
        // to say, as with ripgrep.
        Err(err) if ward::cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
