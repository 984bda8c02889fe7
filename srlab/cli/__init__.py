"""Command line: ``python -m srlab {demo,info,train,eval,bench,course} ...``.

Arguments are checked by the parser before anything is loaded; any bad input (a wrong
option, a missing folder, a file that is not srlab weights) ends in one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse

import torch

from srlab import bench, config
from srlab.cli.course import add_parser as add_course_parser
from srlab.cli.course import run_course
from srlab.cli.demo import run_demo
from srlab.cli.evaluate import run_eval
from srlab.cli.train import run_train
from srlab.compare import ROWS
from srlab.data import available_benchmarks
from srlab.models import SR_MODELS


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {value}")
    return value


positive_int = _int_at_least(1)


def _scale_or_auto(text: str) -> float | str:
    return "auto" if text == "auto" else _positive_float(text)


def _add_common(p: argparse.ArgumentParser, kinds: tuple[str, ...] = SR_MODELS) -> None:
    p.add_argument("model", choices=kinds)
    p.add_argument("--scale", type=_int_at_least(2),
                   help="upscaling factor (MSRN/SMSRN default 4; TinyUNet is x2)")
    p.add_argument("--device", help="cpu, cuda, mps (default: best available for train, cpu "
                                    "for eval)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument("--limit", type=positive_int,
                   help="use N images only (spread over the CIFAR-10 split; first N of a set)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srlab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline tour: bicubic baselines, cost table, a figure")
    demo.add_argument("--out-dir", help="where demo.png goes (default: srlab.config.output_dir)")
    sub.add_parser("info", help="print the environment and data sources found")

    train = sub.add_parser("train", help="train a model (resumable)")
    _add_common(train, (*SR_MODELS, "cifar_classifier"))  # also the FD-CIFAR classifier
    train.add_argument("--data", nargs="+", metavar="DIR",
                       help="folders of HR training images (MSRN/SMSRN, required; e.g. "
                            "sr-train/BSDS200 sr-train/T91) or one image-folder copy of "
                            "CIFAR-10 (TinyUNet)")
    train.add_argument("--steps", type=positive_int, help="optimiser steps")
    train.add_argument("--batch-size", type=positive_int)
    train.add_argument("--patch-size", type=positive_int, help="LR patch size (MSRN/SMSRN)")
    train.add_argument("--lr", type=_positive_float, help="learning rate")
    train.add_argument("--out", help="checkpoint to write and resume (weights: same stem, .pt)")
    train.add_argument("--no-resume", dest="resume", action="store_false",
                       help="start from scratch even if --out exists")
    train.add_argument("--eval-every", type=positive_int)
    train.add_argument("--until", type=positive_int, metavar="STEP",
                       help="stop at this step with a checkpoint (a run split into parts: the "
                            "same command without --until continues)")
    train.add_argument("--mode", choices=("diffusion", "regression"), default="diffusion",
                       help="TinyUNet: few-step diffusion or one-pass regression")
    train.add_argument("--schedule", choices=("linear", "cosine"), default="cosine")
    train.add_argument("--prediction", choices=("eps", "x0", "v"), default="x0")
    train.add_argument("--timesteps", type=positive_int,
                       help="diffusion T (TinyUNet default 1000, ResShift default 15)")
    train.add_argument("--min-noise", type=_positive_float, default=0.04,
                       help="ResShift: sqrt(eta_1) = min(min_noise / kappa, min_noise); 0.2 for "
                            "the 4-step variant")
    train.add_argument("--residual-scale", type=_scale_or_auto, default=1.0,
                       help="TinyUNet diffusion: x0 = scale * (hr - bicubic); 'auto' = 1 / the "
                            "residual's std on the training images (default 1)")

    ev = sub.add_parser("eval", help="evaluate a model (PSNR/SSIM table)")
    _add_common(ev)
    ev.add_argument("--weights", nargs="+",
                    help="shipped names or weights/checkpoint paths (default: the shipped ones)")
    ev.add_argument("--sets", nargs="+", help="benchmark sets (default: every one found)")
    ev.add_argument("--tile", type=positive_int, help="LR tile size, bounds memory")
    ev.add_argument("--n-steps", type=positive_int, nargs="+", default=[1, 2, 3, 4, 5],
                    help="TinyUNet: DDIM steps to evaluate")

    b = sub.add_parser("bench", help="measure params, MACs, latency and quality")
    b.add_argument("what", choices=("sr", "tinyunet", "diffusion-sr", "tinyunet-ablation"))
    b.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads (default 2)")
    b.add_argument("--device", help="also time on this device (e.g. cuda)")
    b.add_argument("--limit", type=positive_int, help="evaluate on N images only")
    b.add_argument("--sets", nargs="+", help="benchmark sets (default: all found)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--train", nargs="+", metavar="ROW", choices=ROWS + ("all",),
                   help=f"diffusion-sr: retrain these rows ({', '.join(ROWS)}, or all) with the "
                        "comparison budget first")
    add_course_parser(sub)
    return parser


def info() -> None:
    print(config.describe())
    found = available_benchmarks()
    print(f"benchmark sets found: {', '.join(found) if found else 'none (see README: Data)'}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)  # the one place threads are set
    try:
        if args.command == "demo":
            run_demo(args.out_dir)
        elif args.command == "info":
            info()
        elif args.command == "train":
            run_train(args)
        elif args.command == "eval":
            run_eval(args)
        elif args.command == "course":
            return run_course(args)
        elif args.what == "sr":
            bench.bench_sr(args.device, args.sets, args.limit, args.seed)
        elif args.what == "tinyunet":
            bench.bench_tinyunet(args.device, args.limit, args.seed)
        elif args.what == "tinyunet-ablation":
            bench.bench_tinyunet_ablation(args.limit, args.device, args.threads)
        else:
            rows = list(ROWS) if args.train and "all" in args.train else args.train
            bench.bench_diffusion_sr(args.limit, args.seed, rows, args.device, args.threads)
    except (ValueError, TypeError, FileNotFoundError) as err:  # bad input: say it, no traceback
        parser.exit(2, f"error: {err}\n")
    return 0
