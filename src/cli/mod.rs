//! The `virtcim` command-line client: virsh's command names, options, output and exit codes.

/// Runs the CLI with `args` (without the program name); returns the process exit code.
pub fn run(args: Vec<String>) -> i32 {
    let _ = args;
    1
}
