use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ward::cli::Cli::parse();
    match ward::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
