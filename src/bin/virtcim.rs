//! The `virtcim` CLI binary: hands its arguments to the library's CLI.

fn main() {
    let code = virtcim::cli_main(std::env::args().skip(1).collect());
    std::process::exit(code);
}
