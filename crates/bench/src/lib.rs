//! The client benchmarks live in `benches/client/`: `cargo bench -p gptproto-bench`.
//! This library is empty; the package exists to keep the peers (async-openai, reqwest) out of
//! every published crate's dependencies.
