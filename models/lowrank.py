"""Activation-aware mixed-rank compression of a trained ViT (PAPERS.md section 3).

Pipeline of :func:`compress_model`, for the encoder linears ``y = x W^T + b``
(``W [out, in]``; qkv, proj, fc1, fc2 of every block):

1. **Calibration** (:func:`calibrate`): forward hooks accumulate each layer's input
   moments ``X^T X``, ``sum x`` and the token count over batches of proxy images, in
   float64; memory does not grow with the proxy set.
2. **Principal basis** (:func:`principal_basis`): the eigenvectors ``V`` of the output
   covariance ``W (X^T X + damping) W^T`` (float64 eigensolve), most energy first. Rank
   ``r`` keeps ``A = V_r^T W [r, in]``, ``B = V_r [out, r]``, the minimiser of
   ``||X W^T - X (B A)^T||_F``. Plain SVD (``scheme="svd"``) uses the left singular
   vectors of W instead (the same with white inputs).
3. **Allocation** (:mod:`models.lowrank_alloc`) of per-layer ranks to the parameter
   target, from the normalised error curves of ``metric`` ``"full"`` (all tokens) or
   ``"mean"`` (the mean input vector).
4. **Error compensation** (:func:`compensate`), layer by layer in network order: the
   residual pair ``C [k, in]``, ``D [out, k]`` starts at the next ``k`` basis directions and
   is fitted by full-batch Adam on ``||X W^T - X_tilde (B A + D C)^T||^2 / ||X W^T||^2``,
   where ``X_tilde`` is the layer's input in the network whose earlier layers are already
   compressed. The loss is evaluated from the moments ``X_tilde^T X_tilde`` and
   ``X_tilde^T X`` (accumulated over batches), so each step costs ``O(in^2 out)``. The
   best iterate is kept, never worse than its start or than no residual.
5. Optional 8-bit LSQ quantization of the factors (``w_bits=8``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from golden.errors import VitsimError
from golden.lowrank_cfg import LowRankCfg
from models.lowrank_alloc import LayerCurve, allocate_ranks, tail_errors
from models.lowrank_layers import LowRankLinear, compressible_linears, replace_linears

__all__ = ["Moments", "aa_svd", "analytic_scheme", "calibrate", "compensate", "compress_model",
           "model_params", "output_error", "principal_basis", "proxy_images"]


@dataclass
class Moments:
    """Input moments of one linear layer, accumulated in float64."""

    xtx: Tensor  # [in, in] sum of x^T x over tokens
    xsum: Tensor  # [in] sum of x
    count: int  # tokens seen

    @property
    def mean(self) -> Tensor:
        """Mean input vector."""
        return self.xsum / max(self.count, 1)


class _Stop(Exception):
    """Raised by a capture hook to end a forward pass early."""


def _batches(images: Tensor, batch_size: int):
    for i in range(0, len(images), batch_size):
        yield images[i:i + batch_size]


@torch.no_grad()
def calibrate(model: nn.Module, images: Tensor, *, batch_size: int = 128) -> dict[str, Moments]:
    """Accumulate the input moments of every encoder linear of ``model`` over ``images``."""
    model.eval()
    moments: dict[str, Moments] = {}
    hooks = []
    for name, lin in compressible_linears(model):
        k = lin.in_features
        moments[name] = m = Moments(torch.zeros(k, k, dtype=torch.float64),
                                    torch.zeros(k, dtype=torch.float64), 0)

        def hook(_mod, inputs, _out, m=m, k=k):
            x = inputs[0].detach().reshape(-1, k).double()
            m.xtx += x.T @ x
            m.xsum += x.sum(0)
            m.count += x.shape[0]

        hooks.append(lin.register_forward_hook(hook))
    try:
        for x in _batches(images, batch_size):
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return moments


def _damped(xtx: Tensor, damping: float) -> Tensor:
    diag = torch.diagonal(xtx)
    lam = damping * float(diag.mean()) if float(diag.mean()) > 0 else damping
    return xtx + lam * torch.eye(xtx.shape[0], dtype=xtx.dtype)


def principal_basis(weight: Tensor, moments: Moments | None = None, *, metric: str = "full",
                    damping: float = 1e-6) -> tuple[Tensor, np.ndarray]:
    """Return ``(V [out, m] float64, errors [m + 1])`` of ``weight [out, in]``, ``m = min``.

    With ``moments``: ``V`` are the top eigenvectors of ``W (X^T X + damping) W^T`` and
    ``errors[r]`` the normalised output error of rank ``r`` under ``metric`` (``"full"``:
    ``||X dW^T||^2 / ||X W^T||^2``; ``"mean"``: the same at the mean input). Without:
    plain SVD, ``V`` the left singular vectors and ``errors`` the weight-space
    ``sum_{i >= r} s_i^2 / sum s_i^2``.
    """
    w = weight.detach().double()
    m = min(w.shape)
    if moments is None:
        u, s, _ = torch.linalg.svd(w, full_matrices=False)
        return u[:, :m], tail_errors((s[:m] ** 2).numpy())
    g = w @ _damped(moments.xtx, damping) @ w.T
    evals, evecs = torch.linalg.eigh((g + g.T) / 2)
    v = evecs.flip(-1)[:, :m]  # most energy first
    if metric == "full":
        energy = torch.einsum("oi,op,pi->i", v, w @ moments.xtx @ w.T, v)
    elif metric == "mean":
        energy = (v.T @ (w @ moments.mean)) ** 2
    else:
        raise VitsimError(f"metric must be one of 'full', 'mean', not {metric!r}")
    # the basis keeps the eigen order; errors[r] measure that truncation under `metric`
    return v, tail_errors(energy.numpy())


def aa_svd(weight: Tensor, xtx: Tensor | None, rank: int, *,
           damping: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Rank-``rank`` factors ``(A [rank, in], B [out, rank])`` of ``weight [out, in]``.

    Minimises ``||X W^T - X (B A)^T||_F`` for ``X^T X = xtx`` (activation-aware SVD);
    ``xtx=None`` gives plain truncated SVD. Factors come back in ``weight``'s dtype.
    """
    moments = None if xtx is None else Moments(xtx.double(), torch.zeros(xtx.shape[0],
                                                                         dtype=torch.float64), 1)
    v, _ = principal_basis(weight, moments, damping=damping)
    vr = v[:, :rank]
    return (vr.T @ weight.double()).to(weight.dtype), vr.to(weight.dtype)


def output_error(weight: Tensor, approx: Tensor, xtx: Tensor) -> float:
    """``||X (W - W_approx)^T||^2 / ||X W^T||^2`` from ``X^T X`` (all ``[out, in]``)."""
    d, w, c = (approx.double() - weight.double()), weight.double(), xtx.double()
    return float(torch.trace(d @ c @ d.T) / torch.trace(w @ c @ w.T))


def compensate(layer: LowRankLinear, weight: Tensor, *, p: Tensor, q: Tensor, xtx: Tensor,
               steps: int, lr: float) -> tuple[float, float]:
    """Fit the residual pair of ``layer`` to the dense ``weight`` by full-batch Adam.

    ``p = X_tilde^T X_tilde``, ``q = X_tilde^T X`` and ``xtx = X^T X`` (float64,
    ``[in, in]``) are the moments of the inputs seen by the compressed layer (``X_tilde``)
    and by the dense one (``X``).
    Minimises ``||X W^T - X_tilde M||^2 / ||X W^T||^2``, ``M = (B A + D C)^T``, over
    ``C``, ``D`` only. Keeps the best of the start, ``C = D = 0`` and every iterate.
    Returns the loss ``(before, after)``, before being that of the start.
    """
    w = weight.detach().double()
    r = layer.rank
    a = layer.weight_a.detach()[:r].double()
    b = layer.weight_b.detach()[:, :r].double()
    qy = q @ w.T  # X_tilde^T Y, [in, out]
    yy = max(float(torch.trace(w @ xtx.double() @ w.T)), 1e-300)  # ||X W^T||^2
    base = (b @ a).T  # [in, out]

    def loss_of(m: Tensor) -> Tensor:
        return (yy - 2 * (qy * m).sum() + (m * (p @ m)).sum()) / yy

    c = layer.weight_a.detach()[r:].double().clone().requires_grad_(True)
    d = layer.weight_b.detach()[:, r:].double().clone().requires_grad_(True)
    with torch.no_grad():
        zero_loss = float(loss_of(base))
    opt = torch.optim.Adam([c, d], lr=lr)
    best, best_cd, start = np.inf, None, None
    for step in range(steps + 1):
        loss = loss_of(base + (d @ c).T)
        value = float(loss.detach())
        if start is None:
            start = value
        if value < best:
            best, best_cd = value, (c.detach().clone(), d.detach().clone())
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if zero_loss < best:
        best, best_cd = zero_loss, (torch.zeros_like(c), torch.zeros_like(d))
    with torch.no_grad():
        layer.weight_a[r:].copy_(best_cd[0].to(layer.weight_a.dtype))
        layer.weight_b[:, r:].copy_(best_cd[1].to(layer.weight_b.dtype))
    return start, best


@torch.no_grad()
def _cross_moments(dense: nn.Module, compressed: nn.Module, name: str, images: Tensor,
                   batch_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(X_tilde^T X_tilde, X_tilde^T X, X^T X)`` of layer ``name`` over ``images``."""
    captured = {}

    def grab(key):
        def hook(_mod, inputs):
            captured[key] = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double()
            raise _Stop

        return hook

    k = dense.get_submodule(name).in_features
    p, q, c = (torch.zeros(k, k, dtype=torch.float64) for _ in range(3))
    hooks = [dense.get_submodule(name).register_forward_pre_hook(grab("x")),
             compressed.get_submodule(name).register_forward_pre_hook(grab("xt"))]
    try:
        for x in _batches(images, batch_size):
            for net in (dense, compressed):
                try:
                    net(x)
                except _Stop:
                    pass
            xd, xt = captured["x"], captured["xt"]
            p += xt.T @ xt
            q += xt.T @ xd
            c += xd.T @ xd
    finally:
        for h in hooks:
            h.remove()
    return p, q, c


def model_params(model: nn.Module) -> int:
    """All parameters of ``model`` (quantizer scales included)."""
    return sum(p.numel() for p in model.parameters())


def proxy_images(dataset, samples: int, seed: int = 0) -> Tensor:
    """``samples`` images drawn without replacement from ``dataset`` (all if fewer)."""
    n = len(dataset)
    if n == 0:
        raise VitsimError("the proxy (training) split is empty")
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:samples]
    return torch.stack([dataset[int(i)][0] for i in idx])


def compress_model(model: nn.Module, cfg: LowRankCfg, images: Tensor | None = None, *,
                   ranks: dict | None = None, batch_size: int = 128,
                   progress: bool = False) -> tuple[nn.Module, dict]:
    """Return ``(compressed copy of model, record)`` at ``cfg``; ``model`` is unchanged.

    ``images`` are the proxy images (needed unless ``cfg`` is plain SVD without
    compensation). ``ranks`` (every encoder linear, 0 = dense) replaces the allocation,
    e.g. to factorise with one scheme at the ranks another chose. The record (JSON-ready)
    holds ``cfg``, ``layer_ranks`` (every encoder linear, 0 = dense), ``params``
    (``dense``, ``budget``, ``compressed``) and per layer the calibration error at its
    rank and the compensation loss before/after.

    Raises
    ------
    VitsimError
        Missing proxy images, or a target that no allocation reaches.
    """
    from tqdm.auto import tqdm

    if cfg.needs_data and (images is None or len(images) == 0):
        raise VitsimError(f"scheme {cfg.scheme!r} with rank_k {cfg.rank_k} needs proxy images")
    model = model.eval()
    layers = compressible_linears(model)
    if not layers:
        raise VitsimError("the model has no encoder linears to compress")
    moments = calibrate(model, images, batch_size=batch_size) if cfg.aware else {}
    bases, curves = {}, []
    for name, lin in layers:
        v, err = principal_basis(lin.weight, moments.get(name), metric=cfg.metric,
                                 damping=cfg.damping)
        bases[name] = v
        curves.append(LayerCurve(name, lin.in_features, lin.out_features, err))
    total = model_params(model)
    budget_total = int(np.floor((1.0 - cfg.target) * total))
    fixed = total - sum(lin.weight.numel() for _, lin in layers)
    if budget_total <= fixed:
        raise VitsimError(f"target {cfg.target:g} unreachable: the layers that stay dense "
                          f"alone hold {fixed} of {total} parameters")
    if ranks is None:
        ranks = allocate_ranks(curves, budget_total - fixed, rank_step=cfg.rank_step,
                               rank_k=cfg.rank_k)

    out = copy.deepcopy(model)
    new = replace_linears(out, ranks, rank_k=cfg.rank_k)
    dense = dict(layers)
    for name, lay in new.items():
        w, v = dense[name].weight.detach(), bases[name]
        vk = v[:, : lay.width].to(w.dtype)
        lay.set_factors(vk[:, : lay.rank].T @ w, vk[:, : lay.rank],
                        vk[:, lay.rank:].T @ w, vk[:, lay.rank:])
        if dense[name].bias is not None:
            lay.bias.data.copy_(dense[name].bias.detach())
    info = {name: {"rank": ranks[name], "error": curves[i].error(ranks[name], cfg.rank_k)}
            for i, (name, _) in enumerate(layers)}
    compressed = model_params(out)
    if cfg.rank_k:
        for name, lay in tqdm(list(new.items()), desc="compensate", disable=not progress,
                              leave=False):
            p, q, c = _cross_moments(model, out, name, images, batch_size)
            before, after = compensate(lay, dense[name].weight, p=p, q=q, xtx=c,
                                       steps=cfg.steps, lr=cfg.lr)
            info[name].update(comp_before=before, comp_after=after)
    if cfg.w_bits < 32:
        for lay in new.values():
            lay.quantize(cfg.w_bits)
    out.eval()
    record = {
        "cfg": cfg.to_dict(),
        "layer_ranks": {name: ranks[name] for name, _ in layers},
        "params": {"dense": total, "budget": budget_total, "compressed": compressed},
        "layers": info,
    }
    return out, record


def analytic_scheme(record: dict, **fields):
    """The :class:`golden.accel_spec.SchemeCfg` of a compressed model's ``record``.

    Every encoder linear gets its own ``layer_ranks`` entry (0: dense) and the residual
    ``rank_k``; factor widths are the record's ``w_bits``. ``fields`` set the rest
    (``a_bits``, ``name``...), so the analytic bytes count the factors of this model.
    """
    from golden.accel_spec import SchemeCfg

    cfg = LowRankCfg.from_dict(record["cfg"], source="lowrank record field 'cfg'")
    fields = {"name": str(cfg), "w_bits": cfg.w_bits, **fields}
    return SchemeCfg(rank=0, rank_k=cfg.rank_k, layer_ranks=tuple(record["layer_ranks"].items()),
                     **fields)
