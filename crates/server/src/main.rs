//! The `vytalcall` binary. See `vytalcall --help`.

fn main() -> std::process::ExitCode {
    vytalcall::cli::main()
}
