"""Checks for the exercises of notebook 04 (solutions/04_ddpm_ddim_theory.ipynb).

Every check compares with the diffusion core ``srlab.diffusion`` on random schedules, timesteps
and tensors; the samplers are driven by an *oracle* denoiser (one that returns a fixed x0), so
a whole trajectory can be replayed step by step with the student's formula.
"""

from __future__ import annotations

import math

import torch

from srlab.course.registry import Wrong, close, register
from srlab.diffusion import (
    ddim_sample,
    ddim_timesteps,
    ddpm_sample,
    make_schedule,
    q_sample,
)
from srlab.diffusion.schedules import NoiseSchedule


def _randint(lo: int, hi: int, rng: torch.Generator) -> int:
    """A random integer in [lo, hi] (both included)."""
    return int(torch.randint(lo, hi + 1, (), generator=rng))


def _same(got: object, candidate: torch.Tensor, atol: float = 1e-5) -> bool:
    """True when ``got`` is a tensor equal to ``candidate`` (used to recognise typical mistakes)."""
    return (isinstance(got, torch.Tensor) and got.shape == candidate.shape
            and torch.allclose(got.detach().double(), candidate.double(), atol=atol, rtol=1e-4))


def _random_schedule(rng: torch.Generator, t_min: int = 50, t_max: int = 1000) -> NoiseSchedule:
    name = ("linear", "cosine")[_randint(0, 1, rng)]
    return make_schedule(name, _randint(t_min, t_max, rng))


def _oracle(x0: torch.Tensor):
    """A denoiser that always predicts the true x0 (prediction="x0")."""

    def model(x_t: torch.Tensor, t: torch.Tensor, cond: object) -> torch.Tensor:
        return x0.to(x_t.dtype).expand_as(x_t).clone()

    return model


# -- 04.1 -----------------------------------------------------------------------------------------

@register(
    "04.1", "the forward process q(x_t | x0) by hand",
    lesson="notebooks/04_ddpm_ddim_theory.ipynb, section 1 (the forward process)",
    hints=["x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, with a different t (and so a "
           "different alpha_bar_t) for every sample of the batch.",
           "alpha_bar[t] has shape (N,): reshape it to (N, 1, 1, ...) so it broadcasts against "
           "x0, e.g. ab = alpha_bar[t].view(-1, *[1] * (x0.ndim - 1)).to(x0.dtype).",
           "Return ab.sqrt() * x0 + (1 - ab).sqrt() * noise."],
    solution="""def q_sample_by_hand(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].view(-1, *[1] * (x0.ndim - 1)).to(x0.dtype)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise""",
)
def check_q_sample(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(torch.float32, (_randint(2, 6, rng), 3, _randint(4, 20, rng), _randint(4, 20, rng)))]
    if strict:
        cases += [(torch.float64, (_randint(50, 200, rng), 2)), (torch.float32, (1, 1, 5, 7))]
    described = []
    for dtype, shape in cases:
        sched = _random_schedule(rng)
        x0 = torch.rand(shape, generator=rng, dtype=dtype) * 2 - 1
        noise = torch.randn(shape, generator=rng, dtype=dtype)
        t = torch.randint(0, sched.T, (shape[0],), generator=rng)
        try:
            got = answer(x0, t, noise, sched.alpha_bar)
        except RuntimeError as err:
            if "must match the size" not in str(err):
                raise
            raise Wrong(f"broadcasting failed ({err}): alpha_bar[t] has shape (N,); reshape it "
                        "to (N, 1, 1, ...) so that each sample gets its own alpha_bar") from err
        ab = sched.alpha_bar[t].view(-1, *[1] * (x0.ndim - 1))
        expected = q_sample(x0, t, noise, sched)
        for variant, hint in (
            (ab * x0 + (1 - ab).sqrt() * noise,
             "the signal is scaled by alpha_bar_t: it must be sqrt(alpha_bar_t) (x_t has "
             "variance alpha_bar_t Var(x0) + (1 - alpha_bar_t))"),
            (ab.sqrt() * x0 + (1 - ab) * noise,
             "the noise is scaled by 1 - alpha_bar_t: it must be sqrt(1 - alpha_bar_t) (the "
             "standard deviation, not the variance)"),
            (ab * x0 + (1 - ab) * noise,
             "both scales lack their square root: x_t = sqrt(ab) x0 + sqrt(1 - ab) eps"),
        ):
            if _same(got, variant) and not _same(variant, expected):
                raise Wrong(hint)
        if isinstance(got, torch.Tensor) and got.shape != x0.shape:
            raise Wrong(f"x_t must have the shape of x0 {tuple(x0.shape)}, got "
                        f"{tuple(got.shape)}: reshape alpha_bar[t] to (N, 1, 1, ...) so that "
                        "each sample gets its own alpha_bar")
        if isinstance(got, torch.Tensor) and got.dtype != dtype:
            raise Wrong(f"x_t must keep the dtype of x0 ({dtype}), got {got.dtype}: cast "
                        "alpha_bar[t] (float64) to x0.dtype")
        close(got, expected, f"x_t for a {sched.describe()}, x0 of shape {tuple(shape)}",
              atol=1e-5 if dtype == torch.float32 else 1e-10)
        described.append(f"{sched.describe()} on x0 {tuple(shape)} {str(dtype)[6:]}")
    return ("matches srlab.diffusion.q_sample with a random timestep per sample on "
            + "; ".join(described) + " (to 1e-5).")


# -- 04.2 -----------------------------------------------------------------------------------------

def _posterior(x_t: torch.Tensor, x0: torch.Tensor, t: int, s: NoiseSchedule, *,
               alpha: str = "sqrt", variance: str = "tilde") -> tuple[torch.Tensor, float]:
    """The posterior q(x_{t-1} | x_t, x0) (DDPM eq. 6-7), or a typical mistake of it."""
    ab, ab_prev = float(s.alpha_bar[t]), float(s.alpha_bar_prev[t])
    beta, a = float(s.betas[t]), float(s.alphas[t])
    a_term = a**0.5 if alpha == "sqrt" else a
    mean = beta * ab_prev**0.5 / (1 - ab) * x0 + (1 - ab_prev) * a_term / (1 - ab) * x_t
    var = beta * (1 - ab_prev) / (1 - ab) if variance == "tilde" else beta
    return mean, var


def _as_float(value: object, what: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise Wrong(f"{what}: expected one number (the variance is the same for every "
                        f"element), got a tensor of shape {tuple(value.shape)}")
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    raise Wrong(f"{what}: expected a number, got {type(value).__name__}")


@register(
    "04.2", "the DDPM posterior q(x_{t-1} | x_t, x0) and the ancestral step",
    lesson="notebooks/04_ddpm_ddim_theory.ipynb, section 3 (DDPM: objective and reverse step)",
    hints=["Read the four numbers at step t from the schedule: alpha_bar[t], "
           "alpha_bar_prev[t] (alpha_bar_{t-1}, equal to 1 at t = 0), betas[t] and alphas[t].",
           "mean = sqrt(ab_prev) beta / (1 - ab) * x0 + sqrt(alpha) (1 - ab_prev) / (1 - ab) * x_t"
           "; variance = beta (1 - ab_prev) / (1 - ab) (beta_tilde, not beta).",
           "Use schedule.alpha_bar_prev[t] rather than alpha_bar[t - 1]: at t = 0, "
           "alpha_bar[-1] is the LAST value of the schedule, not 1."],
    solution="""def posterior(x_t, x0, t, schedule):
    ab, ab_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar_prev[t])
    beta, alpha = float(schedule.betas[t]), float(schedule.alphas[t])
    mean = (ab_prev**0.5 * beta / (1 - ab)) * x0 + (alpha**0.5 * (1 - ab_prev) / (1 - ab)) * x_t
    var = beta * (1 - ab_prev) / (1 - ab)
    return mean, var""",
)
def check_posterior(answer, rng: torch.Generator, strict: bool) -> str:
    sched = _random_schedule(rng)
    shape = (_randint(2, 4, rng), 3, _randint(4, 12, rng), _randint(4, 12, rng))
    x0 = torch.rand(shape, generator=rng) * 2 - 1
    x_t = torch.randn(shape, generator=rng)
    ts = [_randint(1, sched.T - 1, rng) for _ in range(3)] + [0]
    for t in ts:
        got = answer(x_t, x0, t, sched)
        if not isinstance(got, tuple) or len(got) != 2:
            raise Wrong("return a pair (mean, variance)")
        mean, var = got[0], _as_float(got[1], f"variance at t={t}")
        ref_mean, ref_var = _posterior(x_t, x0, t, sched)
        if t == 0 and not _same(mean, ref_mean) and sched.T > 1:
            raise Wrong("wrong mean at t = 0, where alpha_bar_{t-1} must be 1 (the mean is x0): "
                        "use schedule.alpha_bar_prev[t], not alpha_bar[t - 1] (which wraps around "
                        "to the last value)")
        plain = _posterior(x_t, x0, t, sched, alpha="plain")[0]
        if _same(mean, plain) and not _same(plain, ref_mean):
            raise Wrong(f"the mean's x_t coefficient at t={t} uses alpha_t: it is "
                        "sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)")
        close(mean, ref_mean, f"posterior mean at t={t} ({sched.describe()})", atol=1e-5)
        beta = float(sched.betas[t])
        if (t > 0 and math.isclose(var, beta, rel_tol=1e-6)
                and not math.isclose(ref_var, beta, rel_tol=1e-6)):
            raise Wrong(f"the variance at t={t} is beta_t, the other choice of DDPM's sampler: "
                        "the posterior variance is beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / "
                        "(1 - alpha_bar_t)")
        if not math.isclose(var, ref_var, rel_tol=1e-6, abs_tol=1e-12):
            raise Wrong(f"posterior variance at t={t}: got {var:.6g}, expected {ref_var:.6g}")
    checked = f"the closed form at t = {', '.join(map(str, ts))} of a {sched.describe()}"
    if strict:  # replay a whole ancestral chain of ddpm_sample with the true x0 as the prediction
        small = make_schedule(("linear", "cosine")[_randint(0, 1, rng)], _randint(10, 40, rng))
        target = torch.rand(3, 2, generator=rng) * 2 - 1
        seed = _randint(0, 2**31 - 1, rng)
        ref = ddpm_sample(_oracle(target), target.shape, None, small,
                          torch.Generator().manual_seed(seed), prediction="x0")
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(target.shape, generator=g)
        for t in range(small.T - 1, -1, -1):
            mean, var = answer(x, target, t, small)
            var = _as_float(var, f"variance at t={t}")
            x = mean + var**0.5 * torch.randn(target.shape, generator=g) if t > 0 else mean
        close(x, ref, f"a whole ancestral chain ({small.describe()}) vs ddpm_sample", atol=1e-4)
        checked += f", and a whole ddpm_sample chain ({small.describe()}, to 1e-4)"
    return f"matches DDPM eq. 6-7 on {checked} (mean to 1e-5, variance to 1e-6 relative)."


# -- 04.3 -----------------------------------------------------------------------------------------

def _ddim_step(x_t, x0_hat, eps_hat, ab_t, ab_next, eta, z, *, mistake: str | None = None):
    """DDIM eq. 12 (sigma from eq. 16), or a typical mistake of it."""
    sigma = eta * ((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next)) ** 0.5
    if mistake == "no_eta":
        sigma = ((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next)) ** 0.5
    dir_var = max(1 - ab_next - sigma**2, 0.0)
    signal = ab_next**0.5
    direction = dir_var**0.5
    if mistake == "signal_sqrt":
        signal = ab_next
    elif mistake == "direction_sqrt":
        direction = dir_var
    elif mistake == "no_sigma_in_direction":
        direction = (1 - ab_next) ** 0.5
    return signal * x0_hat + direction * eps_hat + sigma * z


@register(
    "04.3", "one DDIM step, deterministic and stochastic",
    lesson="notebooks/04_ddpm_ddim_theory.ipynb, section 4 (DDIM: same training, fewer steps)",
    hints=["Predict the clean sample, then re-noise it to the level of the next step: "
           "x_next = sqrt(ab_next) x0_hat + sqrt(1 - ab_next - sigma^2) eps_hat + sigma z.",
           "sigma = eta * sqrt((1 - ab_next) / (1 - ab_t)) * sqrt(1 - ab_t / ab_next); with "
           "eta = 0 it is 0 and the step is deterministic.",
           "Both scales are standard deviations: the square roots matter on sqrt(ab_next) and "
           "on sqrt(1 - ab_next - sigma^2)."],
    solution="""def ddim_step(x_t, x0_hat, eps_hat, ab_t, ab_next, eta, z):
    sigma = eta * ((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next)) ** 0.5
    return ab_next**0.5 * x0_hat + (1 - ab_next - sigma**2) ** 0.5 * eps_hat + sigma * z""",
)
def check_ddim_step(answer, rng: torch.Generator, strict: bool) -> str:
    runs = [(0.0, _randint(1, 5, rng)), (0.2 + 0.8 * float(torch.rand((), generator=rng)), 3)]
    if strict:
        runs += [(1.0, _randint(6, 12, rng)), (0.0, 1)]
    done = []
    for eta, n_steps in runs:
        sched = _random_schedule(rng)
        shape = (_randint(2, 5, rng), _randint(1, 3, rng), 6, 6)
        x0 = torch.rand(shape, generator=rng) * 2 - 1
        seed = _randint(0, 2**31 - 1, rng)
        ref, traj = ddim_sample(_oracle(x0), shape, None, sched, n_steps, eta=eta,
                                prediction="x0", clip_x0=False, return_trajectory=True,
                                generator=torch.Generator().manual_seed(seed))
        # replay the sampler's trajectory with the student's step
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(shape, generator=g)
        ts = traj["t"]
        for i, t in enumerate(ts):
            ab_t = float(sched.alpha_bar[t])
            ab_next = float(sched.alpha_bar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            eps = (x - ab_t**0.5 * x0) / (1 - ab_t) ** 0.5
            stochastic = eta > 0 and ab_next < 1
            z = torch.randn(shape, generator=g) if stochastic else torch.zeros(shape)
            got = answer(x, x0, eps, ab_t, ab_next, eta, z)
            for mistake, hint in (
                ("signal_sqrt", "x0_hat is scaled by ab_next: it must be sqrt(ab_next)"),
                ("direction_sqrt", "eps_hat is scaled by 1 - ab_next - sigma^2: it must be its "
                                   "square root sqrt(1 - ab_next - sigma^2)"),
                ("no_sigma_in_direction", "with eta > 0 the eps_hat coefficient must give up the "
                 "variance of the fresh noise: sqrt(1 - ab_next - sigma^2), not sqrt(1 - ab_next)"),
                ("no_eta", "sigma must be multiplied by eta (eta = 0 is deterministic DDIM)"),
            ):
                wrong = _ddim_step(x, x0, eps, ab_t, ab_next, eta, z, mistake=mistake)
                right = traj["x"][i + 1]
                if _same(got, wrong) and not _same(wrong, right):
                    raise Wrong(f"step {i + 1} of {n_steps} (t={t}, eta={eta:.2f}): {hint}")
            close(got, traj["x"][i + 1], f"x after step {i + 1} of a {n_steps}-step DDIM run "
                  f"(t={t}, eta={eta:.2f}, {sched.describe()})", atol=1e-5)
            x = got
        close(x, ref, "the final sample", atol=1e-5)
        done.append(f"{n_steps} step{'s' * (n_steps > 1)} with eta={eta:.2f} "
                    f"({sched.describe()})")
    return ("replays srlab.diffusion.ddim_sample step by step, with the true x0 as the "
            "prediction: " + "; ".join(done) + " (every x_t to 1e-5).")


# -- 04.4 -----------------------------------------------------------------------------------------

def _as_int_list(got: object) -> list[int]:
    if isinstance(got, torch.Tensor):
        got = got.tolist()
    try:
        values = list(got)  # type: ignore[call-overload]
    except TypeError as err:
        raise Wrong(f"expected a list of integers, got {type(got).__name__}") from err
    if not all(float(v) == int(v) for v in values):
        raise Wrong(f"expected integer timesteps, got {values[:6]}")
    return [int(v) for v in values]


@register(
    "04.4", "trailing timestep spacing",
    lesson="notebooks/04_ddpm_ddim_theory.ipynb, section 4 (the timesteps that DDIM visits)",
    hints=["Trailing spacing counts down from the last timestep T - 1 in n equal jumps of T / n "
           "(a float), e.g. T = 1000, n = 4: [999, 749, 499, 249].",
           "Step i (i = 0 .. n-1) is round(T - i * T / n) - 1.",
           "Keep the jump T / n a float and round each value: T // n gives wrong steps when n "
           "does not divide T."],
    solution="""def trailing(T, n):
    return [round(T - i * T / n) - 1 for i in range(n)]""",
)
def check_trailing(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [(1000, 4), (1000, 3)]
    for _ in range(6):
        T = _randint(2, 2000, rng)
        cases.append((T, _randint(1, min(T, 50), rng)))
    if strict:
        cases += [(1, 1), (7, 7), (10, 1), (999, 998), (12345, 7)]
    for T, n in cases:
        got = _as_int_list(answer(T, n))
        expected = ddim_timesteps(T, n, "trailing")
        if got == expected:
            continue
        if got == expected[::-1]:
            raise Wrong(f"T={T}, n={n}: the timesteps must be in decreasing order (sampling "
                        "walks from noise to data)")
        if n > 1 and got == ddim_timesteps(T, n, "leading"):
            raise Wrong(f"T={T}, n={n}: you returned leading spacing {got[:4]}...: it ends at 0 "
                        f"and never starts at T - 1 = {T - 1}")
        if got == ddim_timesteps(T, n, "linspace"):
            raise Wrong(f"T={T}, n={n}: you returned linspace spacing, which ends at t = 0")
        if got == [v + 1 for v in expected]:
            raise Wrong(f"T={T}, n={n}: off by one: timesteps are 0-indexed, the first is T - 1 "
                        f"= {T - 1}, not T")
        if got == [T - 1 - i * (T // n) for i in range(n)]:
            raise Wrong(f"T={T}, n={n}: the jump must be T / n = {T / n:g} (a float), rounded "
                        f"per step; T // n = {T // n} drifts when n does not divide T")
        raise Wrong(f"T={T}, n={n}: expected {expected[:8]}{' ...' if n > 8 else ''}, "
                    f"got {got[:8]}{' ...' if len(got) > 8 else ''}")
    return (f"equals srlab.diffusion.ddim_timesteps(T, n, 'trailing') for {len(cases)} (T, n) "
            "pairs, e.g. " + ", ".join(f"({T}, {n})" for T, n in cases[2:5]) + ".")


# -- 04.5 -----------------------------------------------------------------------------------------

def _cosine_variant(T: int, s: float, *, shift: int = 1, square: bool = True,
                    clip: bool = True) -> torch.Tensor:
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2)
    f = f**2 if square else f
    ab = f / f[0]
    if not clip:
        return ab[shift:shift + T]
    betas = (1 - ab[1:] / ab[:-1]).clamp(0, 0.999)
    return torch.cumprod(1 - betas, 0)


@register(
    "04.5", "alpha_bar of the cosine schedule",
    lesson="notebooks/04_ddpm_ddim_theory.ipynb, section 1 (the cosine schedule) and 2",
    hints=["alpha_bar(t) = f(t) / f(0) with f(t) = cos^2(((t / T + s) / (1 + s)) * pi / 2), "
           "evaluated at t = 0 .. T; the schedule's 0-indexed step t is the continuous time "
           "t + 1 (step 0 already adds a little noise).",
           "srlab turns it into betas, beta_t = 1 - alpha_bar(t + 1) / alpha_bar(t), capped at "
           "0.999 (the last beta would be 1), then alpha_bar = cumprod(1 - beta).",
           "ab = f / f[0] on torch.arange(T + 1) / T; betas = (1 - ab[1:] / ab[:-1]).clamp(max="
           "0.999); return torch.cumprod(1 - betas, 0)."],
    solution="""def cosine_alpha_bar(T, s=0.008):
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    betas = (1 - ab[1:] / ab[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)""",
)
def check_cosine(answer, rng: torch.Generator, strict: bool) -> str:
    Ts = [1000, _randint(5, 4000, rng), _randint(5, 4000, rng)]
    if strict:
        Ts += [1, 2, 3]
    for T in Ts:
        got = answer(T)
        expected = make_schedule("cosine", T).alpha_bar
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            got64 = got.detach().double()
            for variant, hint in (
                (_cosine_variant(T, 0.008, shift=0, clip=False),
                 "off by one: the schedule's step t = 0 already holds one step of noise, so its "
                 "alpha_bar is f(1 / T) / f(0), not 1; evaluate f at t + 1"),
                (_cosine_variant(T, 0.008, square=False),
                 "f(t) is the SQUARED cosine, cos^2(((t / T + s) / (1 + s)) pi / 2)"),
                (_cosine_variant(T, 0.0),
                 "the offset s = 0.008 is missing (it keeps beta small near t = 0)"),
            ):
                if _same(got64, variant, atol=1e-9) and not _same(variant, expected, atol=1e-9):
                    raise Wrong(f"T={T}: {hint}")
            unclipped = _cosine_variant(T, 0.008, clip=False)
            if (T > 1 and _same(got64[:-1], expected[:-1], atol=1e-12)
                    and _same(got64[-1:], unclipped[-1:], atol=1e-20)):
                raise Wrong(f"T={T}: all but the last value match: the core caps every beta at "
                            "0.999, so the last alpha_bar is 0.001 * alpha_bar[T-2], not f(1) / "
                            "f(0) (which is practically 0)")
            if got64[0] == 1:
                raise Wrong(f"T={T}: alpha_bar[0] is 1: the schedule's step t = 0 already holds "
                            "one step of noise; evaluate f at t + 1")
        close(got, expected, f"alpha_bar of the cosine schedule, T={T}", atol=1e-12, rtol=1e-6)
    return (f"matches make_schedule('cosine', T).alpha_bar for T = {', '.join(map(str, Ts))} "
            "(relative 1e-6, the capped last value included).")
