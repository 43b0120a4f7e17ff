"""Q-ViT quantizer (models/qvit.py) against hand-computed forward values and gradients.

Every expected number is worked out by hand from PAPERS.md §2.2-2.4 (see the comments);
none is taken from running the code. Notation: u = (x - beta) / alpha, G = upstream grad.
"""

import math

import pytest
import torch

from golden.model_cfg import QViTCfg
from golden.spec import ConfigError
from models import qvit
from models.qvit_layers import QViTQuantizer

T = torch.tensor
LN2 = math.log(2.0)
X5 = T([-3.0, -0.6, 0.2, 1.4, 5.0])
G5 = T([1.0, 2.0, 3.0, 4.0, 5.0])


def _close(got, want, tol=1e-5):
    torch.testing.assert_close(got, torch.as_tensor(want, dtype=got.dtype), atol=tol, rtol=0)


def _run(x, scales, bits, grad, **kw):
    x = x.clone().requires_grad_(True)
    scales = scales.clone().requires_grad_(True)
    bits = bits.clone().requires_grad_(True)
    offsets = kw.pop("offsets", None)
    if offsets is not None:
        offsets = offsets.clone().requires_grad_(True)
    out = qvit.quantize(x, scales, bits, offsets=offsets, **kw)
    out.backward(grad)
    return out, x.grad, scales.grad, bits.grad, None if offsets is None else offsets.grad


def test_round_bits_clamps_rounds_half_even_and_passes_gradient_straight():
    b = T([1.2, 9.7, 4.5, 5.5, 3.49], requires_grad=True)
    r = qvit.round_bits(b)
    _close(r, [2.0, 8.0, 4.0, 6.0, 3.0])
    r.backward(G5)
    _close(b.grad, G5)  # identity, also outside [2, 8]


def test_signed_2bit_forward_and_all_three_gradients():
    # bits 2.4 -> 2: Qn = -2, Qp = 1, scale entry 0 = 1.0. u = x.
    # clipped below: -3; clipped above: 1.4, 5; inside: -0.6, 0.2
    scales = T([1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01])
    out, gx, gs, gb, _ = _run(X5, scales, T([2.4]), G5, signed=True)
    _close(out, [-2.0, -1.0, 0.0, 1.0, 1.0])
    _close(gx, [0.0, 2.0, 3.0, 0.0, 0.0])
    # dalpha: Qn*1 + (-1 + 0.6)*2 + (0 - 0.2)*3 + Qp*4 + Qp*5 = -2 - 0.8 - 0.6 + 4 + 5 = 5.6
    # times g = 1 / sqrt(numel * Qp) = 1 / sqrt(5); only entry 0 (width 2) is touched
    _close(gs, [5.6 / math.sqrt(5), 0, 0, 0, 0, 0, 0])
    # dbits: alpha * 2^(b-1) * ln2 * (G above - G below) = 2 ln2 * (4 + 5 - 1)
    _close(gb, [16 * LN2])


def test_signed_3bit_uses_its_own_scale_entry():
    # bits 3.2 -> 3: Qn = -4, Qp = 3, scale entry 1 = 0.5; u = [-6, -1.2, 0.4, 2.8, 10]
    scales = T([1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01])
    out, gx, gs, gb, _ = _run(X5, scales, T([3.2]), G5, signed=True)
    # codes [-4, -1, 0, 3, 3] * 0.5
    _close(out, [-2.0, -0.5, 0.0, 1.5, 1.5])
    _close(gx, [0.0, 2.0, 3.0, 4.0, 0.0])
    # -4*1 + (-1 + 1.2)*2 + (0 - 0.4)*3 + (3 - 2.8)*4 + 3*5 = 11.0, g = 1 / sqrt(5 * 3)
    _close(gs, [0, 11.0 / math.sqrt(15), 0, 0, 0, 0, 0])
    # 0.5 * 2^2 * ln2 * (5 - 1)
    _close(gb, [8 * LN2])


def test_unsigned_with_offset_clips_on_both_sides():
    # GELU output: bits 2 -> Qp = 3, alpha = 0.25, beta = -0.2 (entry 0 of both tables)
    # u = (x + 0.2) / 0.25 = [-1.2, 1.2, 2.0, 4.4, 8.8] -> codes [0, 1, 2, 3, 3]
    x = T([-0.5, 0.1, 0.3, 0.9, 2.0])
    scales, offsets = T([0.25] + [1.0] * 6), T([-0.2] + [0.0] * 6)
    out, gx, gs, gb, go = _run(x, scales, T([2.0]), G5, signed=False, offsets=offsets)
    _close(out, [-0.2, 0.05, 0.3, 0.55, 0.55])  # codes * 0.25 - 0.2
    _close(gx, [0.0, 2.0, 3.0, 0.0, 0.0])
    # dalpha: 0*1 + (1 - 1.2)*2 + (2 - 2)*3 + 3*4 + 3*5 = 26.6, g = 1 / sqrt(5 * 3)
    _close(gs, [26.6 / math.sqrt(15), 0, 0, 0, 0, 0, 0])
    # dbeta: clipped elements (either side) 1 + 4 + 5 = 10, with no gradient scale g
    _close(go, [10.0, 0, 0, 0, 0, 0, 0])
    # dbits (unsigned, only the upper bound moves): alpha * 2^b * ln2 * (4 + 5)
    _close(gb, [9 * LN2])


def test_unsigned_without_offset_clips_negatives_to_zero():
    # bits 2: Qp = 3, alpha 1; u = [-3, -0.6, 0.2, 1.4, 5] -> codes [0, 0, 0, 1, 3]
    out, gx, gs, gb, _ = _run(X5, torch.ones(7), T([2.0]), G5, signed=False)
    _close(out, [0.0, 0.0, 0.0, 1.0, 3.0])
    _close(gx, [0.0, 0.0, 3.0, 4.0, 0.0])
    # below: Qn = 0 contributes 0; -0.2*3 + (1 - 1.4)*4 + 3*5 = 12.8 over sqrt(15)
    _close(gs[0], 12.8 / math.sqrt(15))
    _close(gb, [4 * LN2 * 5])  # only the element above Qp


def test_values_exactly_on_the_bounds_are_not_clipped():
    # bits 2, alpha 1: -2 == Qn and 1 == Qp are inside: input gradient, no width gradient
    out, gx, gs, gb, _ = _run(T([-2.0, 1.0]), torch.ones(7), T([2.0]), T([1.0, 1.0]),
                              signed=True)
    _close(out, [-2.0, 1.0])
    _close(gx, [1.0, 1.0])
    _close(gb, [0.0])
    _close(gs[0], 0.0)  # round(u) - u = 0 for both


def test_width_crossing_a_rounding_boundary_switches_scale_entry():
    scales = T([1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01])
    x = T([0.3, -0.7])
    lo = _run(x, scales, T([3.49]), torch.ones(2), signed=True)
    hi = _run(x, scales, T([3.51]), torch.ones(2), signed=True)
    _close(lo[0], [0.5, -0.5])  # width 3, alpha 0.5: codes [1, -1]
    _close(hi[0], [0.25, -0.75])  # width 4, alpha 0.25: codes [1, -3]
    assert lo[2].nonzero().flatten().tolist() == [1]
    assert hi[2].nonzero().flatten().tolist() == [2]


def test_module_switches_to_its_separately_initialised_scale():
    q = QViTQuantizer(signed=True, bits=4, learn_bits=True)
    x = torch.linspace(-1.0, 1.0, 41)
    q(x)  # initialises all seven entries
    a4 = q(x)
    with torch.no_grad():
        q.bits.fill_(5.2)
    a5 = q(x)
    alpha = q.alpha.detach()
    assert alpha[2] != alpha[3]  # widths 4 and 5 have their own MSE scales
    assert set(torch.round(a4 / alpha[2]).tolist()) <= set(range(-8, 8))
    torch.testing.assert_close(a5, torch.round(torch.clamp(x / alpha[3], -16, 15)) * alpha[3])


def test_head_wise_widths_select_scale_and_gradient_per_head():
    # x [1, 2 heads, 1, 3]; head 0 at width 2 (entry 0), head 1 at width 3 (entry 1)
    x = T([-3.0, 0.4, 5.0, -3.0, 0.4, 5.0]).reshape(1, 2, 1, 3)
    out, gx, gs, gb, _ = _run(x, torch.ones(7), T([2.0, 3.0]), torch.ones(1, 2, 1, 3),
                              signed=True, axis=1)
    _close(out.flatten(), [-2.0, 0.0, 1.0, -3.0, 0.0, 3.0])
    _close(gx.flatten(), [0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    # head 0: Qn + (0 - 0.4) + Qp = -1.4 over sqrt(3 * 1); head 1: (-3 + 3) - 0.4 + 3 = 2.6
    # over sqrt(3 * 3): g uses the element count of one head
    _close(gs, [-1.4 / math.sqrt(3), 2.6 / 3, 0, 0, 0, 0, 0])
    # head 0: 2 ln2 (1 - 1) = 0; head 1: 4 ln2 * 1
    _close(gb, [0.0, 4 * LN2])


def test_weight_rows_grouped_by_head():
    # [4, 2] weight, heads along axis 0: rows 0-1 at width 2, rows 2-3 at width 8
    w = T([[0.9, -0.9], [0.3, 0.1], [0.9, -0.9], [0.3, 0.1]])
    out = qvit.quantize(w, torch.full((7,), 0.3), T([2.0, 8.0]), signed=True, axis=0)
    _close(out, [[0.3, -0.6], [0.3, 0.0], [0.9, -0.9], [0.3, 0.0]])


def test_mse_scale_fixed_point_by_hand():
    # x = [0.5, 1, 4], width 3 (Qp 3): alpha0 = 4/3, codes [0, 1, 3], alpha = 13/10 = 1.3;
    # codes unchanged at 1.3 -> fixed point
    alpha, beta = qvit.mse_scale(T([0.5, 1.0, 4.0]), 3, signed=True)
    assert beta == 0.0 and abs(alpha - 1.3) < 1e-9


def test_mse_scale_with_offset_is_the_least_squares_fit_of_the_codes():
    # beta0 = min = -1, alpha0 = (2 - -1) / 3 = 1; u = [0, 1.25, 2.25, 3] -> codes [0, 1, 2, 3].
    # The reference's alternation converges to the least-squares line of x on q:
    # alpha = cov(q, x) / var(q) = 5 / 5 = 1, beta = mean x - 1.5 alpha = 0.625 - 1.5;
    # the codes at (1, -0.875) are again [0, 1, 2, 3], so that is the fixed point.
    alpha, beta = qvit.mse_scale(T([-1.0, 0.25, 1.25, 2.0]), 2, signed=False, offset=True)
    assert abs(alpha - 1.0) < 1e-7 and abs(beta + 0.875) < 1e-7


def _reference_quantize(x, alpha_tab, beta_tab, bits, *, signed):
    """The authors' QuantAct / QuantMultiHeadAct forward, written with plain torch ops.

    Straight-through rounding ``round_pass`` and the LSQ ``grad_scale`` applied to the
    scale only (the offset is used as is); heads on axis 1 of ``x``.
    """
    def round_pass(t):
        return (t.round() - t).detach() + t

    def grad_scale(t, s):
        return (t - t * s).detach() + t * s

    nb = round_pass(bits.clamp(2, 8))
    qn, qp = (-(2 ** (nb - 1)), 2 ** (nb - 1) - 1) if signed else (0 * nb, 2**nb - 1)
    heads = bits.numel()
    with torch.no_grad():
        g = 1.0 / torch.sqrt(x.numel() / heads * qp)
    idx = nb.detach().long() - 2
    view = (1, heads, 1, 1)
    alpha = grad_scale(alpha_tab[idx], g).reshape(view)
    beta = beta_tab[idx].reshape(view) if beta_tab is not None else 0.0
    u = (x - beta) / alpha
    code = round_pass(torch.minimum(torch.maximum(u, qn.reshape(view)), qp.reshape(view)))
    return code * alpha + beta


@pytest.mark.parametrize("signed, offset, bits", [
    (False, True, [3.3]),  # the GELU output: unsigned with offset beta
    (True, False, [4.0]),
    (True, False, [2.6, 5.2]),  # head-wise: two widths, two scale entries
])
def test_gradients_equal_the_authors_straight_through_formulation(signed, offset, bits):
    # Every gradient (x, scale table, offset table, widths) from autograd through the
    # reference expression above; float64, agreement to 1e-12 (summation order only).
    # Random data never lands exactly on a clipping bound (where torch.maximum would
    # split the gradient).
    gen = torch.Generator().manual_seed(5)
    heads = len(bits)
    x0 = torch.randn(2, heads, 6, 8, generator=gen, dtype=torch.float64) * 1.5
    grad = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    a0 = torch.rand(7, generator=gen, dtype=torch.float64) * 0.4 + 0.1
    b0 = -torch.rand(7, generator=gen, dtype=torch.float64) * 0.5 if offset else None
    bits0 = torch.tensor(bits, dtype=torch.float64)
    grads = []
    for fn in ("ours", "reference"):
        x, a, nb = (t.clone().requires_grad_(True) for t in (x0, a0, bits0))
        b = b0.clone().requires_grad_(True) if offset else None
        if fn == "ours":
            out = qvit.quantize(x, a, nb, signed=signed, offsets=b, axis=1)
        else:
            out = _reference_quantize(x, a, b, nb, signed=signed)
        out.backward(grad)
        grads.append([out.detach(), x.grad, a.grad, nb.grad] + ([b.grad] if offset else []))
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert grads[0][2].abs().sum() > 0 and grads[0][3].abs().sum() > 0
    if offset:  # an unscaled offset gradient: one G per clipped element
        assert grads[0][4].abs().sum() > 1.0


def _authors_mse_steps(x, bits, *, signed):
    """The authors' ``quantize_by_mse`` loop (no cap), float64: ``(alpha, steps)``."""
    qn, qp = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    alpha, old, steps = float(x.abs().max()) / qp, -1.0, 0
    while abs((alpha - old) / alpha) >= 1e-5:
        q = (x / alpha).clamp(qn, qp).round()
        old, alpha = alpha, float(x.dot(q) / q.dot(q))
        steps += 1
    return alpha, steps


def test_mse_scale_iterates_to_the_authors_convergence_criterion_past_100_steps():
    # 8192 standard-normal quantiles (no random generator): 6-bit signed codes need a few
    # hundred fixed-point steps, more than the 100 the old cap allowed.
    x = torch.special.ndtri((torch.arange(8192, dtype=torch.float64) + 0.5) / 8192)
    want, steps = _authors_mse_steps(x, 6, signed=True)
    assert steps > 100
    alpha, beta = qvit.mse_scale(x, 6, signed=True)
    assert beta == 0.0 and abs(alpha - want) <= 1e-12 * want
    q = (x / alpha).clamp(-32, 31).round()
    again = float(x.dot(q) / q.dot(q))
    assert abs(again - alpha) < 1e-5 * again  # one more step: converged


def test_init_tables_fill_every_width():
    x = torch.linspace(-2.0, 2.0, 101)
    alpha, beta = qvit.init_tables(x, signed=True)
    assert alpha.shape == beta.shape == (7,)
    for b in range(2, 9):
        assert abs(alpha[b - 2].item() - qvit.mse_scale(x, b, signed=True)[0]) < 1e-6
    assert bool((alpha[1:] < alpha[:-1]).all())  # wider codes, finer steps


def test_scale_is_clamped_at_eps_forward_only():
    # raw scale -1 is used as 1e-4: u = 1.2 -> code 1; the raw entry still gets
    # (round(u) - u) * g = -0.2 / sqrt(1 * 127)
    out, _, gs, _, _ = _run(T([1.2e-4]), torch.full((7,), -1.0), T([8.0]), T([1.0]),
                            signed=True, eps=1e-4)
    _close(out, [1e-4], tol=1e-9)
    _close(gs[6], -0.2 / math.sqrt(127))


@pytest.mark.parametrize("field, value, message", [
    ("w_bits", 9, r"^w_bits must be between 2 and 8, not 9"),
    ("init_bits", 1, r"^init_bits must be between 2 and 8, not 1"),
    ("weight_axis", "cols", r"^weight_axis must be one of 'head', 'reference', not 'cols'"),
    ("freeze_ratio", 1.5, r"^freeze_ratio must be >= 0.0 and <= 1.0, not 1.5"),
])
def test_qvit_cfg_rejects_bad_fields(field, value, message):
    with pytest.raises(ConfigError, match=message):
        QViTCfg(**{field: value})


def test_qvit_cfg_round_trip_and_names():
    cfg = QViTCfg(budget=12.883, init_bits=6)
    assert QViTCfg.from_dict(cfg.to_dict()) == cfg
    assert str(QViTCfg(learn_bits=False, w_bits=3, a_bits=3)) == "lsq_w3a3"
    assert cfg.scheme == "qvit" and QViTCfg(learn_bits=False).scheme == "lsq"
