"""A fast DDIM sampler for a diffusion ``TinyUNetSR``: upscale's samples at the network's speed.

``TinyUNetSR.upscale`` runs the readable sampler of ``srlab.diffusion`` (notebook 04). Each
step it looks the schedule up, builds the noise-level channel, concatenates the 7-channel input,
checks it, turns the prediction into (x0_hat, eps_hat) and applies the DDIM update: a few dozen
small tensor operations around a network call that takes well under a millisecond at batch 1.
``FastSampler`` does per step only what must change (taught in notebook 05):

- once per sampler: the timesteps (``ddim_timesteps``) and DDIM's update folded into two numbers
  per step. With ab = alpha_bar, t the current and t' the next timestep, x0_hat clipped to
  [-c, c] (c = ``model.x0_bound``) and eps_hat = (x_t - sqrt(ab_t) x0_hat) / sqrt(1 - ab_t)
  (``srlab.diffusion.ddim``)::

      x_t' = sqrt(ab_t') x0_hat + c_t eps_hat + sigma_t z  =  A_t x_t + B_t x0_hat + sigma_t z,
      c_t = sqrt(1 - ab_t' - sigma_t^2),  A_t = c_t / sqrt(1 - ab_t),
      B_t = sqrt(ab_t') - A_t sqrt(ab_t)

  (sigma_t = 0 for eta = 0, as the shipped models sample); after the last step x0_hat is the
  answer;
- once per input shape: the network as it runs fastest here (a copy in channels_last, traced
  and frozen with TorchScript, its convolutions fused by oneDNN Graph on a CPU; each form falls
  back to the next where it fails), one 7-channel input buffer, and bicubic upsampling as two
  small matrices (``bicubic_matrix``);
- once per call: the input checks, the bicubic image written into channels 3-5, x_T drawn
  exactly as ``upscale`` draws it (a CPU generator seeded with ``seed``, one ``randn`` of shape
  (N, 3, 2h, 2w), float32) into channels 0-2;
- per step: the noise level sqrt(1 - ab_t) written into channel 6, one network call without
  its input check, and x_t updated in place inside the buffer.

``python -m srlab bench tinyunet`` times both samplers and their network calls.
Same seed, same output as ``model.upscale(lr, steps, seed)``, to float rounding (tested to
1e-5 for x0- and v-predictions; reading x0 = (x_t - s eps) / a from an eps-prediction
magnifies any rounding, that of another convolution algorithm too, by s / a). The network is
a copy, so the model stays as it is; the copy is made again after the model's weights change
(an optimiser step, ``load_state_dict``, ``.to``). One sampler reuses its buffers: give each
thread its own.

    fast = FastSampler(model, steps=5)
    sr = fast(lr, seed=0)          # lr (N, 3, h, w) in [0, 1] -> sr (N, 3, 2h, 2w) in [0, 1]
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from srlab.checks import check_choice, check_eta, check_image
from srlab.config import MEMORY_FORMATS, memory_format_on
from srlab.degradation import bicubic_up
from srlab.diffusion.ddim import ddim_timesteps
from srlab.diffusion.ddpm import predict_x0_eps
from srlab.diffusion.schedules import NoiseSchedule
from srlab.models.tinyunet_sr import SCALE, TinyUNetSR, seeded_calls

JIT = ("auto", "off", "freeze", "onednn")
JIT_FORMS = {"freeze": "TorchScript trace + freeze",
             "onednn": "TorchScript trace + freeze + oneDNN Graph fusion"}


@dataclass(frozen=True)
class DDIMStep:
    """One precomputed DDIM step: timestep ``t``, sqrt(ab_t) ``a`` and sqrt(1 - ab_t) ``s``
    (the noise level of the network's 7th channel; both read x0 from an eps or v prediction),
    and the update x_t' = ``A`` x_t + ``B`` x0_hat + ``sigma`` z."""

    t: int
    a: float
    s: float
    A: float
    B: float
    sigma: float


def ddim_plan(schedule: NoiseSchedule, steps: int, spacing: str = "trailing",
              eta: float = 0.0) -> list[DDIMStep]:
    """The DDIM update of ``srlab.diffusion.ddim_sample`` (clip_x0) per step, as numbers."""
    timesteps = ddim_timesteps(schedule.T, steps, spacing)
    plan = []
    for i, t in enumerate(timesteps):
        ab = float(schedule.alpha_bar[t])
        ab_prev = float(schedule.alpha_bar[timesteps[i + 1]]) if i + 1 < len(timesteps) else 1.0
        # the same float64 arithmetic as ddim_sample, so sigma > 0 decides alike
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) ** 0.5
        c = max(1 - ab_prev - sigma**2, 0.0) ** 0.5
        a, s = float(schedule.sqrt_alpha_bar[t]), float(schedule.sqrt_one_minus_alpha_bar[t])
        A = c / s if c > 0 else 0.0  # the last step (c = 0) returns x0_hat, even where s = 0
        plan.append(DDIMStep(t, a, s, A, ab_prev**0.5 - A * a, sigma))
    return plan


BICUBIC_MATRIX_MAX = 64  # LR sides up to this use bicubic_matrix; larger ones bicubic_up


def bicubic_matrix(n: int, scale: int = SCALE) -> torch.Tensor:
    """``bicubic_up`` along one axis of length ``n`` as a (scale n, n) float32 matrix M.

    Bicubic upsampling is linear and separable, so ``bicubic_up(lr) = clamp(M_h lr M_w^T)``
    to float rounding. M is read off ``bicubic_up`` itself (in float64, probed at 0.5 +- 0.25,
    where nothing is clamped), so it follows that function's kernel and border rule.
    """
    probe = 0.5 + 0.25 * torch.eye(n, dtype=torch.float64).view(1, n, n, 1)
    response = (bicubic_up(probe, scale) - 0.5) / 0.25  # channel j: the response to pixel j
    return response[0, :, :, 0].T.float().contiguous()


@dataclass
class _Run:
    """What the calls on one input shape reuse: the network as it runs and its ``form``, the
    7-channel input ``buf`` with its views ``x`` (0-2), ``cond`` (3-5) and ``level`` (6), and
    the bicubic matrices (None for large images)."""

    net: Callable[[torch.Tensor], torch.Tensor]
    form: str
    buf: torch.Tensor
    x: torch.Tensor
    cond: torch.Tensor
    level: torch.Tensor
    up_h: torch.Tensor | None
    up_wt: torch.Tensor | None


class FastSampler:
    """``model.upscale(lr, steps, seed)`` of a diffusion ``TinyUNetSR``, made fast.

    ``FastSampler(model, steps=None, eta=0.0)`` validates once; ``fast(lr, seed=0)``: lr
    (N, 3, h, w) float in [0, 1], h and w even -> (N, 3, 2h, 2w) in [0, 1], lr's dtype, the
    output of ``model.upscale(lr, steps=steps, seed=seed, eta=eta)``. ``memory_format``
    ("contiguous", "channels_last") and ``jit`` ("off": eager; "freeze": ``torch.jit.trace`` +
    ``torch.jit.freeze``; "onednn": frozen and fused by oneDNN Graph) choose how the network
    runs; "auto" is channels_last and "onednn" on a CPU, the network as it is elsewhere.
    ``form`` says how it ran last.
    """

    scale = SCALE

    def __init__(self, model: TinyUNetSR, steps: int | None = None, eta: float = 0.0, *,
                 memory_format: str = "auto", jit: str = "auto") -> None:
        if not isinstance(model, TinyUNetSR):
            raise TypeError(f"FastSampler: expected a diffusion TinyUNetSR, got "
                            f"{type(model).__name__}")
        if not model.is_diffusion:
            raise ValueError("FastSampler: this TinyUNet is a regression model (one pass, "
                             "nothing to sample); call model.upscale(lr) instead")
        check_choice(memory_format, MEMORY_FORMATS, "memory_format")
        check_choice(jit, JIT, "jit")
        sched = model.schedule("cpu")
        steps, eta = model.check_steps(steps), check_eta(eta)
        self.model, self.steps, self.eta = model, steps, eta
        self.memory_format, self.jit = memory_format, jit
        self.prediction = model.config["prediction"]
        self.plan = ddim_plan(sched, steps, model.config["spacing"], self.eta)
        if self.prediction == "eps":  # zero terminal SNR: upscale's own error, raised now
            for step in self.plan:
                t = torch.tensor([step.t])
                predict_x0_eps(sched, torch.zeros(1), t, torch.zeros(1), "eps")
        # -c + 2c sigmoid(z), the x0-prediction, is in [-c, c] already: the clip changes nothing
        self._bound = model.x0_bound
        self._clip = not (self.prediction == "x0"
                          and tuple(model.net.config["out_range"]) == (-self._bound, self._bound))
        # residual_scale 1: from_x0 is up + x0, clamped, done in place on up below
        self._plain = model.config["residual"] and model.config["residual_scale"] == 1.0
        self._runs: dict[tuple, _Run] = {}
        self.form = "not built yet"  # how the network ran last: e.g. "eager, channels_last"
        self._layers: tuple = ()
        self._params: list[torch.Tensor] = []
        self._weights: list[tuple[int, int]] = []
        self._gen = torch.Generator()

    def __repr__(self) -> str:
        return (f"FastSampler({self.model.tag}, steps={self.steps}, eta={self.eta}, "
                f"memory_format={self.memory_format!r}, jit={self.jit!r})")

    # -- the network, as it runs ----------------------------------------------------------------

    def memory_format_on(self, device: torch.device) -> torch.memory_format:
        """The memory format the network and its input use on ``device``."""
        return memory_format_on(self.memory_format, device)

    def jit_on(self, device: torch.device) -> str:
        """How the network runs on ``device``: "off", "freeze" or "onednn"."""
        if self.jit != "auto":
            return self.jit
        return "onednn" if device.type == "cpu" else "off"

    def device(self) -> torch.device:
        """Where the model's weights are now. Forgets the built networks when the weights were
        replaced, moved or changed in place (an optimiser step, ``load_state_dict``)."""
        net = self.model.net
        layers = (net, *net._modules.values())
        if layers != self._layers or [(p.data_ptr(), p._version) for p in self._params] \
                != self._weights:
            self._runs.clear()
            self._layers, self._params = layers, list(net.parameters())
            self._weights = [(p.data_ptr(), p._version) for p in self._params]
        return self._params[0].device

    def network(self, shape: tuple[int, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network as the sampler calls it on a (N, 7, H, W) input of ``shape`` on the
        model's device: a copy of ``model.net`` in the memory format and form of
        ``memory_format_on`` and ``jit_on`` (``form`` names it; a traced graph has lost the
        network's per-call input check). Built once per shape, again after the weights
        change."""
        return self._run(tuple(shape), self.device()).net

    def _run(self, shape: tuple[int, ...], device: torch.device) -> _Run:
        key = (shape, str(device))
        if key not in self._runs:
            if len(self._runs) >= 8:  # an evaluation uses one or two batch shapes
                self._runs.clear()
            fmt = self.memory_format_on(device)
            net = copy.deepcopy(self.model.net).eval().to(memory_format=fmt)
            example = torch.rand(shape, generator=torch.Generator().manual_seed(0))
            example = example.to(device, memory_format=fmt)
            fn: Callable[[torch.Tensor], torch.Tensor] = net
            form = "eager"
            wanted = self.jit_on(device)  # falling back: oneDNN fusion -> plain freeze -> eager
            for jit in {"onednn": ("onednn", "freeze"), "freeze": ("freeze",)}.get(wanted, ()):
                compiled = _compile(copy.deepcopy(net), example, onednn=jit == "onednn")
                if compiled is not None:
                    fn, form = compiled, JIT_FORMS[jit]
                    break
            if form == "eager" and wanted != "off":
                form = "eager (TorchScript failed here)"
            form += ", channels_last" if fmt == torch.channels_last else ", NCHW"
            buf = torch.empty(shape, device=device, memory_format=fmt)
            h, w = shape[2] // SCALE, shape[3] // SCALE
            small = max(h, w) <= BICUBIC_MATRIX_MAX
            self._runs[key] = _Run(
                fn, form, buf, buf[:, :3], buf[:, 3:6],
                buf[:, 6:], bicubic_matrix(h).to(device) if small else None,
                bicubic_matrix(w).T.contiguous().to(device) if small else None)
        run = self._runs[key]
        self.form = run.form
        return run

    # -- sampling -------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(self, lr: torch.Tensor, seed: int = 0) -> torch.Tensor:
        check_image(lr, "lr", channels=3)
        in_dtype, lr = lr.dtype, lr.float()
        n, _, h, w = lr.shape
        if h % 2 or w % 2:
            raise ValueError(f"lr: TinyUNet needs an even LR height and width (two stride-2 "
                             f"stages on the {SCALE}x image), got {h}x{w}; crop it with "
                             "srlab.degradation.mod_crop(lr, 2)")
        dev = self.device()
        run = self._run((n, 7, SCALE * h, SCALE * w), dev)
        lr = lr.to(dev)
        if run.up_h is None:
            up = bicubic_up(lr, SCALE)
        else:  # bicubic_up, as two small matrix products
            up = torch.matmul(torch.matmul(run.up_h, lr), run.up_wt).clamp_(0, 1)
        run.cond.copy_(up)
        x, level, net = run.x, run.level, run.net
        gen = self._gen.manual_seed(int(seed))
        x.copy_(torch.randn(up.shape, generator=gen))  # as ddpm.randn: drawn on the CPU
        last = len(self.plan) - 1
        for i, step in enumerate(self.plan):
            level.fill_(step.s)
            out = net(run.buf)
            if self.prediction == "x0":
                x0 = out
            elif self.prediction == "eps":
                x0 = torch.sub(x, out, alpha=step.s).div_(step.a)
            else:  # v
                x0 = torch.mul(x, step.a).sub_(out, alpha=step.s)
            if self._clip:
                x0 = x0.clamp_(-self._bound, self._bound)
            if i == last:
                break
            x.mul_(step.A).add_(x0, alpha=step.B)
            if step.sigma > 0:
                x.add_(torch.randn(up.shape, generator=gen).to(dev), alpha=step.sigma)
        if self._plain:
            return up.add_(x0).clamp_(0, 1).to(in_dtype)
        return self.model.from_x0(x0, up).contiguous().to(in_dtype)

    def sampler(self, seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
        """As ``TinyUNetSR.sampler``: a model ``lr -> sr`` whose call k draws x_T from
        ``seed + k`` (for ``srlab.evaluate``)."""
        return seeded_calls(lambda lr, s: self(lr, seed=s), seed)


def _compile(net: nn.Module, example: torch.Tensor, onednn: bool
             ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``net`` traced and frozen (``torch.jit.trace`` + ``torch.jit.freeze``) on ``example``,
    with ``onednn`` its convolutions fused by oneDNN Graph during the first calls; None where
    TorchScript fails or its output differs from ``net``'s by more than 1e-5. The trace keeps
    tensor operations only, so the network's Python input check is not in the graph."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript is deprecated upstream; it still runs
        before = torch.jit.onednn_fusion_enabled()
        try:
            frozen = torch.jit.freeze(torch.jit.trace(net, example, check_trace=False))
            torch.jit.enable_onednn_fusion(onednn)  # read while the first calls optimise
            for _ in range(3):
                out = frozen(example)
        except (AttributeError, RuntimeError):
            return None
        finally:
            torch.jit.enable_onednn_fusion(before)
        ref = net(example)
    ok = out.shape == ref.shape and float((out - ref).abs().max()) <= 1e-5
    return frozen if ok else None
