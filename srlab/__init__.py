"""srlab: a hands-on course on lightweight image super-resolution.

One concept per module, each taught in a notebook; imports flow one way, from the command line
and the notebooks down to the settings::

    cli/            command line: demo, info, train, eval, bench         (python -m srlab)
    bench           benchmarks that measure and print                     (README, model card)
    train           fit: the one training loop                            (notebooks 02, 04, 05)
    evaluate        any model on any test data, one result format, tables (00, 02, 03, 05, 06)
    compare         any method (a function lr, seed -> sr) as a table row (06)
    pretrained      shipped weights and weights files -> ready networks   (02, 03, 05)
    models/         MSRN, SMSRN, TinyUNet(SR), FastSampler, ResShiftSR, ResDiffSR, the FD-CIFAR
                    classifier; build(kind, config)                       (02, 03, 05, 06)
    diffusion/      schedules, DDPM, DDIM, residual shifting, the 2-D toy: no SR imports (04, 06)
    data/           image files, embedded photos, benchmark sets, CIFAR-10, PatchSampler, DIV2K
    degradation     bicubic down/up, 8-bit quantisation, the bicubic baseline (00)
    metrics, cost, layers, viz   PSNR/SSIM (00), HF ratio, diversity, Fréchet distance (05);
                                 conv cost equations (01); separable conv; figures
    checkpoint, checks, config   atomic files; every input check; settings and modes

Images are float tensors in [0, 1], NCHW, RGB.
"""

__version__ = "0.2.0"
