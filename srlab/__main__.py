"""Command line: ``python -m srlab {demo,info,train,eval,bench} ...``."""

from __future__ import annotations

import argparse
import sys

SR_MODELS = ("msrn", "smsrn", "tinyunet")


def _add_training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", choices=SR_MODELS)
    p.add_argument("--scale", type=int, help="upscaling factor (MSRN/SMSRN default 4; TinyUNet: 2)")
    p.add_argument("--data", help="folder of HR training images (MSRN) or CIFAR-10 copy")
    p.add_argument("--steps", type=int, help="optimiser steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patch-size", type=int, help="LR patch size")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--out", help="checkpoint / weights file to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start from scratch even if --out exists")
    p.add_argument("--eval-every", type=int)
    p.add_argument("--device", help="cpu, cuda, mps (default: best available)")
    p.add_argument("--weights", help="a checkpoint path or a shipped name (eval)")
    p.add_argument("--mode", choices=("diffusion", "regression"), default="diffusion")
    p.add_argument("--schedule", choices=("linear", "cosine"), default="cosine")
    p.add_argument("--prediction", choices=("eps", "x0", "v"))
    p.add_argument("--timesteps", type=int, help="diffusion T")
    p.add_argument("--n-steps", type=int, nargs="+", help="sampling steps to evaluate")
    p.add_argument("--sets", nargs="+", help="benchmark sets to evaluate (default: all found)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--limit", type=int, help="evaluate on the first N images only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline tour: bicubic baselines, cost table, a figure")
    demo.add_argument("--out-dir", default="outputs")
    sub.add_parser("info", help="print the environment and data sources found")
    _add_training_options(sub.add_parser("train", help="train a model"))
    _add_training_options(sub.add_parser("eval", help="evaluate a model (PSNR/SSIM table)"))
    bench = sub.add_parser("bench", help="measure params, MACs, latency and quality")
    bench.add_argument("what", choices=("sr", "tinyunet"))
    bench.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    bench.add_argument("--device", help="also time on this device (e.g. cuda)")
    bench.add_argument("--limit", type=int, help="evaluate on the first N images only")
    bench.add_argument("--sets", nargs="+", help="benchmark sets (default: all found)")
    bench.add_argument("--seed", type=int, default=0)
    return parser


def info() -> None:
    from srlab import config, data

    print(config.describe())
    found = data.available_benchmarks()
    print(f"benchmark sets found: {', '.join(found) if found else 'none (see README: Data)'}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError, TypeError) as err:  # bad input: say it, no traceback
        parser.exit(2, f"error: {err}\n")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    if args.command == "demo":
        from srlab.demo import run_demo

        run_demo(args.out_dir)
    elif args.command == "info":
        info()
    elif args.command in ("train", "eval"):
        if args.model == "tinyunet":
            from srlab.diffusion import sr as handlers
        else:
            from srlab import train as handlers
        (handlers.cli_train if args.command == "train" else handlers.cli_eval)(args)
    elif args.command == "bench":
        from srlab import bench

        (bench.bench_sr if args.what == "sr" else bench.bench_tinyunet)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
