"""Benchmarks: scripts that measure and print (``python -m srlab bench sr|tinyunet``).

Nothing here asserts a target: the printed table says what was reached on this machine.
"""

from __future__ import annotations

# -- bench sr: bicubic vs MSRN vs SMSRN (x4) -------------------------------------------------


def _sr_models(scale: int) -> dict:
    """name -> (callable, note): bicubic and the shipped MSRN/SMSRN (random init if missing)."""
    from srlab import pretrained
    from srlab.models.msrn import MSRN, SMSRN
    from srlab.train import bicubic

    models = {"bicubic": (bicubic(scale), "")}
    for cls in (MSRN, SMSRN):
        name = f"{cls.kind}_x{scale}"
        if name in pretrained.available():
            models[cls.kind.upper()] = (pretrained.load(name), f"shipped {name}")
        else:
            models[cls.kind.upper()] = (cls(scale=scale).eval(), "random init: no shipped weights")
    return models


def bench_sr(args) -> dict:
    """``python -m srlab bench sr``: params, MACs and CPU (and ``--device``) latency per
    128x128 LR image, and PSNR/SSIM per benchmark set, for bicubic, MSRN and SMSRN x4."""
    import torch

    from srlab import cost
    from srlab import data as srdata
    from srlab.train import EVAL_SETS, evaluate

    scale = 4
    threads = getattr(args, "threads", None) or 2
    torch.set_num_threads(threads)
    torch.manual_seed(getattr(args, "seed", 0) or 0)
    models = _sr_models(scale)
    x = torch.rand(1, 3, 128, 128)
    print(f"x{scale} SR, LR input 1x3x128x128, torch {torch.__version__}, {threads} CPU threads")
    rows = {}
    for name, (model, note) in models.items():
        row = {"note": note}
        is_net = isinstance(model, torch.nn.Module)
        row["params"] = cost.count_params(model) if is_net else 0
        row["macs"] = cost.count_macs(model, x) if is_net else None
        row["cpu"] = cost.measure_latency(model, x, warmup=1, repeats=5)
        if getattr(args, "device", None) and args.device != "cpu":
            dev = torch.device(args.device)
            moved = model.to(dev) if is_net else model
            row["device"] = cost.measure_latency(moved, x.to(dev), warmup=3, repeats=20)
            if is_net:
                model.to("cpu")
        rows[name] = row
        macs = f"{row['macs'] / 1e9:8.2f} G" if row["macs"] is not None else f"{'-':>10}"
        extra = f" | {args.device} {row['device'].median_ms:8.2f} ms" if "device" in row else ""
        print(f"{name:<8} params {row['params']:>10,} | MACs {macs} | CPU "
              f"{row['cpu'].median_ms:9.1f} ms (IQR {row['cpu'].iqr_ms:.1f}){extra}"
              f"{'  [' + note + ']' if note else ''}", flush=True)
    m, s = rows["MSRN"], rows["SMSRN"]
    print(f"SMSRN/MSRN: params {s['params'] / m['params']:.2%}, MACs {s['macs'] / m['macs']:.2%}, "
          f"CPU latency {s['cpu'].median_ms / m['cpu'].median_ms:.3f}x (target <= 0.35x)")
    if "device" in m:
        print(f"SMSRN/MSRN {args.device} latency "
              f"{s['device'].median_ms / m['device'].median_ms:.3f}x")

    found = srdata.available_benchmarks()
    sets = list(args.sets) if getattr(args, "sets", None) else [n for n in EVAL_SETS if n in found]
    sources = {n: srdata.benchmark_set(n, scale) for n in sets}
    if not sources:
        print("no benchmark set found (set SRLAB_BENCHMARKS); using the embedded photos")
        sources = {"embedded": srdata.embedded_images()}
    limit = getattr(args, "limit", None)
    print(f"PSNR/SSIM, Y channel, shave {scale}, 8-bit outputs"
          f"{f', first {limit} images per set' if limit else ''}")
    print(f"{'set':<10}" + "".join(f"{n:>18}" for n in models) + f"{'SMSRN/MSRN':>12}")
    quality = {}
    for set_name, ds in sources.items():
        res = {n: evaluate(model, ds, scale, limit=limit) for n, (model, _) in models.items()}
        quality[set_name] = res
        ratio = res["SMSRN"]["mean_psnr"] / res["MSRN"]["mean_psnr"]
        print(f"{set_name:<10}" + "".join(
            f"{r['mean_psnr']:>10.2f} / {r['mean_ssim']:.4f}"[-18:].rjust(18)
            for r in res.values()) + f"{ratio:>11.2%}", flush=True)
        print(f"{'':<10}SMSRN PSNR >= 98.5% of MSRN: {'met' if ratio >= 0.985 else 'NOT met'}")
    return {"cost": rows, "quality": quality}


# -- bench tinyunet: few-step diffusion SR on CIFAR-10 (x2, 16x16 -> 32x32) ---------------------


def _tinyunet_throughput(model, steps: int, device, batch: int = 256) -> float:
    """Images per second of ``model.upscale`` on a batch of ``batch`` LR images."""
    import torch

    from srlab.cost import measure_latency

    x = torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(0)).to(device)
    lat = measure_latency(lambda z: model.upscale(z, steps=steps), x, warmup=2, repeats=5)
    return batch / lat.median_ms * 1000


def _tinyunet_targets(rows: list[dict]) -> list[str]:
    """The issue's targets, checked against the measured rows (met / missed by how much)."""
    def row(name: str, steps: int) -> dict | None:
        return next((r for r in rows if r["name"] == name and r["steps"] == steps), None)

    bicubic, regression = row("bicubic", 0), row("tinyunet_regression", 1)
    lines = []
    for schedule in ("linear", "cosine"):
        name = f"tinyunet_diffusion_{schedule}"
        five, three = row(name, 5), row(name, 3)
        if five is None:
            continue
        checks = [("5-step PSNR >= bicubic + 2.5 dB", five["psnr"] - bicubic["psnr"] - 2.5)]
        if regression is not None:
            checks.append(("5-step PSNR within 0.2 dB of regression",
                           0.2 - (regression["psnr"] - five["psnr"])))
        if three is not None:
            checks.append(("3 steps within 0.3 dB of 5", 0.3 - abs(five["psnr"] - three["psnr"])))
        checks.append(("5-step sampler <= 3.4 ms/image (CPU, batch 1)", 3.4 - five["ms"]))
        for what, margin in checks:
            verdict = "met" if margin >= 0 else f"MISSED by {-margin:.2f}"
            lines.append(f"{schedule:<7} {what:<46} {verdict}")
    return lines


def bench_tinyunet(args) -> dict:
    """``python -m srlab bench tinyunet``: Step / Param(M) / ms / PSNR / SSIM on the CIFAR-10
    test split for bicubic, the regression TinyUNet and the diffusion TinyUNets (linear,
    cosine) at 1-5 DDIM steps; CPU latency per image at batch 1 (the whole sampler, bicubic
    included, ``--threads`` threads), batched throughput (CPU, and ``--device`` if given);
    then the issue's targets, met or missed by how much."""
    import torch

    from srlab.data import load_cifar10_sr
    from srlab.diffusion.sr import SHIPPED, PairBank, evaluate_table, load_model

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    models = {name: load_model(name) for name in SHIPPED}
    ds = load_cifar10_sr("test", scale=2)
    bank = PairBank.from_dataset(ds, getattr(args, "limit", None), progress=False)
    lr, hr = bank.tensors()
    print(f"TinyUNet x2 on {bank.source}: {len(bank)} test images. PSNR/SSIM: RGB, whole 32x32 "
          "image; -Y: BT.601 luma, 2 px shaved; 8-bit outputs; DDIM eta=0, trailing, seed "
          f"{args.seed or 0}. ms: CPU median per image at batch 1, {torch.get_num_threads()} "
          "threads, whole sampler incl. bicubic")
    from srlab.diffusion.sr import TABLE_HEADER

    print(TABLE_HEADER)
    rows = evaluate_table(models, lr, hr, (1, 2, 3, 4, 5), seed=args.seed or 0)
    devices = [torch.device("cpu")]
    if getattr(args, "device", None) and torch.device(args.device).type != "cpu":
        devices.append(torch.device(args.device))
    print("\nbatched throughput (images/s, batch 256):")
    throughput = {}
    for device in devices:
        for name, model in models.items():
            model.to(device)
            for steps in ((3, 5) if model.is_diffusion else (1,)):
                ips = _tinyunet_throughput(model, steps, device)
                throughput[(str(device), name, steps)] = ips
                print(f"  {str(device):<6} {name:<28} {steps} steps {ips:>10.0f} img/s",
                      flush=True)
            model.to("cpu")
        if device.type != "cpu":  # batch-1 latency of the whole 5-step sampler on the GPU
            from srlab.cost import measure_latency

            x = torch.rand(1, 3, 16, 16, device=device)
            for name, model in models.items():
                model.to(device)
                lat = measure_latency(lambda z, m=model: m.upscale(z, steps=5), x, 5, 50)
                print(f"  {str(device):<6} {name:<28} batch 1, 5 steps: {lat.median_ms:.2f} ms")
                model.to("cpu")
    print("\ntargets:")
    targets = _tinyunet_targets(rows)
    for line in targets:
        print("  " + line)
    return {"rows": rows, "throughput": throughput, "targets": targets}
