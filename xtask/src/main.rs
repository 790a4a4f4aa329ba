//! Project automation: `cargo xtask <command>`.

fn main() {
    eprintln!("usage: cargo xtask <command> (none yet)");
    std::process::exit(2);
}
