//! `assistrtc-server`: see `assistrtc-server --help`.

fn main() -> std::process::ExitCode {
    assistrtc_server::cli::main()
}
