"""Tokens per second of the installed llama.cpp build with the embedded model, in-process.

Usage: .venv/bin/python benchmarks/bench_llama_build.py [--runs 3] [--tokens 64]
To compare another build (e.g. a native one), put its llama_cpp first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import statistics
import time

PROMPT = ("<|im_start|>system\nYou are a warm, plain-spoken relationship coach.<|im_end|>\n"
          "<|im_start|>user\nMy husband lied about money for a year and I don't know how to "
          "trust him again. Where do I start?<|im_end|>\n<|im_start|>assistant\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import llama_cpp

    from coach.llm.buildflags import has_amx
    from coach.llm.local import prepare_model

    info = llama_cpp.llama_print_system_info().decode()
    started = time.monotonic()
    llm = llama_cpp.Llama(model_path=str(prepare_model()), n_ctx=1024, n_threads=args.threads,
                          verbose=False, seed=1)
    load = time.monotonic() - started
    gen, prompt_rates = [], []
    for _ in range(args.runs):
        llm.reset()
        t0 = time.monotonic()
        out = llm.create_completion(PROMPT, max_tokens=args.tokens, temperature=0.0)
        elapsed = time.monotonic() - t0
        n = out["usage"]["completion_tokens"]
        gen.append(n / elapsed)
        prompt_rates.append(out["usage"]["prompt_tokens"] / elapsed)
    print(f"llama_cpp {llama_cpp.__version__} from {llama_cpp.__file__}")
    print(f"AMX compiled in: {has_amx(info)}")
    print(f"system info: {info.strip()}")
    print(f"load {load:.2f} s; {args.runs} runs x {args.tokens} tokens, {args.threads} threads")
    print(f"tokens/s (prompt + generation, whole call): median {statistics.median(gen):.1f}, "
          f"runs {', '.join(f'{g:.1f}' for g in gen)}")


if __name__ == "__main__":
    main()
