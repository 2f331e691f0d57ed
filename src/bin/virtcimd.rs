//! The `virtcimd` daemon binary: configuration, drivers, listeners, signals.

fn main() {
    eprintln!("virtcimd: not implemented yet");
    std::process::exit(1);
}
