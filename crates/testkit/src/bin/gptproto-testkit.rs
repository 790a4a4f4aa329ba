//! The test kit's server as a program, for clients that cannot start one themselves (the wasm32
//! tests in Node and Chromium, the browser demo): `gptproto-testkit [--cors] [--files DIR]`.
//!
//! It prints its address (`http://127.0.0.1:PORT`) on the first line of its output, answers the
//! [`Scenarios`](gptproto_testkit::Scenarios), and stops when its standard input closes.

use std::io::{BufRead, Write};
use std::sync::Arc;

use gptproto_testkit::{Scenarios, TestServer};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut cors = false;
    let mut files = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cors" => cors = true,
            "--files" => match args.next() {
                Some(dir) => files = Some(std::path::PathBuf::from(dir)),
                None => usage("--files needs a folder"),
            },
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let scenarios = Arc::new(Scenarios::new(files));
    let server = TestServer::start(move |request| scenarios.answer(request)).await;
    if cors {
        server.allow_cors();
    }
    println!("http://{}", server.address());
    std::io::stdout().flush().expect("stdout");
    // Serves until standard input closes (the parent ends or closes the pipe).
    tokio::task::spawn_blocking(|| {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
    })
    .await
    .expect("stdin reader");
    drop(server);
}

fn usage(problem: &str) -> ! {
    eprintln!("gptproto-testkit: {problem}\nusage: gptproto-testkit [--cors] [--files DIR]");
    std::process::exit(2);
}
