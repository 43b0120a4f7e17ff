"""Quantizers of models/gsb.py against hand-computed forward values and gradients.

Every expected number below is worked out by hand from the equations of PAPERS.md §1
(see the comments); none is taken from running the code.
"""

import math

import pytest
import torch

from golden.model_cfg import GSBCfg
from models import gsb
from models.layers import GSBAttnQuantizer, GSBValueQuantizer, SignedBinarizer

T = torch.tensor


def _run(fn, x, *alphas):
    x = x.clone().requires_grad_(True)
    alphas = [a.clone().requires_grad_(True) for a in alphas]
    return x, alphas, fn(x, *alphas)


def _close(got, want, tol=1e-6):
    torch.testing.assert_close(got, torch.as_tensor(want, dtype=got.dtype), atol=tol, rtol=0)


# --- BWN ---


def test_bwn_forward_and_identity_gradient():
    # mean|W| = 6/4 = 1.5; mean W = 2/4 = 0.5; sign(W - 0.5) = [[1,-1],[1,-1]]
    w = T([[1.0, -2.0], [3.0, 0.0]], requires_grad=True)
    out = gsb.bwn(w)
    _close(out, [[1.5, -1.5], [1.5, -1.5]])
    g = T([[1.0, 2.0], [3.0, 4.0]])
    out.backward(g)
    _close(w.grad, g)  # identity STE, no clipping


def test_bwn_element_equal_to_mean_codes_zero():
    # mean = 2, mean|W| = 2: sign([-1, 0, 1]) * 2
    _close(gsb.bwn(T([1.0, 2.0, 3.0])), [-2.0, 0.0, 2.0])
    signs, scale = gsb.bwn_parts(T([[1.0, -2.0], [3.0, 0.0]]))
    assert signs.dtype == torch.int8 and signs.tolist() == [[1, -1], [1, -1]]
    assert scale.item() == 1.5


# --- elastic signed ---


def test_signed_forward_and_gradients():
    # alpha = 2: u = [-1.5, -0.25, 0, 0.125, 1] -> M = [0, 1, 1, 1, 1] (|u| <= 1 inclusive)
    x, (a,), out = _run(gsb.binarize_signed, T([-3.0, -0.5, 0.0, 0.25, 2.0]), T(2.0))
    _close(out, [-2.0, -2.0, 0.0, 2.0, 2.0])  # sign(0) = 0
    out.backward(T([1.0, 2.0, 3.0, 4.0, 5.0]))
    _close(x.grad, [0.0, 2.0, 3.0, 4.0, 5.0])
    # (sign - M u) G: -1*1 + (-1+0.25)*2 + 0 + (1-0.125)*4 + (1-1)*5 = 1.0
    _close(a.grad, 1.0 / math.sqrt(5))


def test_signed_scale_is_clamped_at_eps_in_forward_only():
    x, (a,), out = _run(lambda x, a: gsb.binarize_signed(x, a, eps=0.5), T([-1.0, 2.0]), T(-3.0))
    _close(out, [-0.5, 0.5])
    out.backward(T([1.0, 1.0]))
    # u = x / 0.5 = [-2, 4]: both clipped; dalpha = (-1 + 1) / sqrt(2) = 0; grad reaches alpha
    _close(a.grad, 0.0)
    _close(x.grad, [0.0, 0.0])


# --- elastic unsigned ---


def test_unsigned_forward_tie_and_gradients():
    # alpha = 2: u = [-1, 0.2, 0.5, 0.75, 1, 1.5, 2.5]; round half-to-even -> 0.5 -> 0
    xs = T([-2.0, 0.4, 1.0, 1.5, 2.0, 3.0, 5.0])
    x, (a,), out = _run(gsb.binarize_unsigned, xs, T(2.0))
    _close(out, [0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    out.backward(T([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]))
    _close(x.grad, [0.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0])  # M = 1[0 <= u <= 1]
    # (1[u>1] + M (round(u) - u)) G: -0.4 - 1.5 + 1.0 + 0 + 6 + 7 = 12.1
    _close(a.grad, 12.1 / math.sqrt(7), tol=1e-5)


def test_unsigned_tie_exactly_half_codes_zero_just_above_codes_alpha():
    x = T([0.5, 0.5000001, 0.4999999])
    _close(gsb.binarize_unsigned(x, T(1.0)), [0.0, 1.0, 0.0])


# --- GSB attention ---

A6 = T([0.1, 0.3, 0.6, 0.75, 0.95, 1.0]).reshape(1, 1, 2, 3)


def test_group_masks_attention_strict_threshold():
    a = T([0.5, 0.75, 1.0, 0.25])
    t1, t2 = gsb.group_masks(a, (0.5, 0.75), two_tailed=False)
    assert t1.tolist() == [False, True, True, False]  # == 0.5 * max is outside
    assert t2.tolist() == [False, False, True, False]


def test_gsb_attention_forward_and_gradients():
    # max = 1: T1 = A > 0.7 -> [0,0,0,1,1,1], T2 = A > 0.9 -> [0,0,0,0,1,1]
    # u = A / 0.4 = [0.25, 0.75, 1.5, 1.875, 2.375, 2.5] -> base [0, 1, 1, 1, 1, 1]
    x, (al,), out = _run(gsb.gsb_attention, A6, T([0.4, 0.2, 0.1]))
    _close(out.flatten(), [0.0, 0.4, 0.4, 0.6, 0.7, 0.7])
    out.backward(T([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape(1, 1, 2, 3))
    # dA = M G + a2 T1 G + a3 T2 G, M = [1, 1, 0, 0, 0, 0]
    _close(x.grad.flatten(), [1.0, 2.0, 0.0, 0.8, 1.5, 1.8])
    # da1: -0.25*1 + 0.25*2 + (3+4+5+6) = 18.25 over sqrt(6); da2: 15/sqrt(3); da3: 11/sqrt(2)
    _close(al.grad, [18.25 / math.sqrt(6), 15 / math.sqrt(3), 11 / math.sqrt(2)], tol=1e-5)


def test_gsb_attention_masks_without_base_plane():
    # alpha1 = 4: every A / 4 <= 0.25 rounds to 0, yet T1/T2 fire (0.7 max < alpha1 / 2)
    a = T([0.1, 0.8, 1.0])
    _close(gsb.gsb_attention(a, T([4.0, 0.2, 0.1])), [0.0, 0.2, 0.3])


def test_gsb_attention_per_image_reductions():
    a = T([[0.2, 1.0], [0.1, 0.5]]).reshape(2, 1, 1, 2)
    alphas = T([10.0, 1.0, 0.5])  # base plane off everywhere (u <= 0.1)
    # batch-wide max 1.0: only 1.0 is above 0.7 and 0.9
    _close(gsb.gsb_attention(a, alphas).flatten(), [0.0, 1.5, 0.0, 0.0])
    # per image: image 1 has max 0.5, so 0.5 > 0.35 and > 0.45
    _close(gsb.gsb_attention(a, alphas, per_image=True).flatten(), [0.0, 1.5, 0.0, 1.5])


def test_gsb_attention_without_groups_is_plain_unsigned():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 5, 5, generator=gen)
    g = torch.randn(2, 3, 5, 5, generator=gen)
    x1, (a1,), o1 = _run(lambda x, a: gsb.gsb_attention(x, a, thresholds=()), x, T([0.3]))
    x2, (a2,), o2 = _run(gsb.binarize_unsigned, x, T(0.3))
    o1.backward(g)
    o2.backward(g)
    assert torch.equal(o1, o2) and torch.equal(x1.grad, x2.grad)
    torch.testing.assert_close(a1.grad[0], a2.grad)


# --- GSB value ---

V7 = T([-2.0, -0.5, 0.0, 0.3, 1.0, 1.6, 2.0])


def test_group_masks_value_two_tailed():
    t1, t2 = gsb.group_masks(V7, (0.7, 0.9), two_tailed=True)
    assert t1.int().tolist() == [1, 0, 0, 0, 0, 1, 1]  # |v| beyond 1.4 on either side
    assert t2.int().tolist() == [1, 0, 0, 0, 0, 0, 1]  # beyond 1.8


def test_gsb_value_forward_and_gradients():
    x, (al,), out = _run(gsb.gsb_value, V7, T([0.5, 0.25, 0.125]))
    # sign(v) * (0.5 + 0.25 T1 + 0.125 T2)
    _close(out, [-0.875, -0.5, 0.0, 0.5, 0.5, 0.75, 0.875])
    out.backward(T([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]))
    # M1 = |v/0.5| <= 1: [0,1,1,1,0,0,0]; M2 on v*T1/0.25: [0,1,1,1,1,0,0];
    # M3 on v*T2/0.125: [0,1,1,1,1,1,0]  -> dV = (M1 + M2 + M3) G
    _close(x.grad, [0.0, 6.0, 9.0, 12.0, 10.0, 6.0, 0.0])
    # da1: -1 + 0 + 0 + 0.4*4 + 5 + 6 + 7 = 18.6; da2: -1 + 6 + 7 = 12; da3: -1 + 7 = 6
    _close(al.grad, [18.6 / math.sqrt(7), 12 / math.sqrt(3), 6 / math.sqrt(2)], tol=1e-5)


def test_gsb_value_without_groups_is_plain_signed():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 4, generator=gen)
    g = torch.randn(2, 3, 5, 4, generator=gen)
    x1, (a1,), o1 = _run(lambda x, a: gsb.gsb_value(x, a, thresholds=()), x, T([0.7]))
    x2, (a2,), o2 = _run(gsb.binarize_signed, x, T(0.7))
    o1.backward(g)
    o2.backward(g)
    assert torch.equal(o1, o2) and torch.equal(x1.grad, x2.grad)
    torch.testing.assert_close(a1.grad[0], a2.grad)


# --- LSQ ---


def test_lsq_8bit_forward_and_gradients():
    x, (a,), out = _run(gsb.lsq_quantize, T([-300.0, -1.25, 0.5, 1.5, 2.75, 200.0]), T(1.0))
    _close(out, [-128.0, -1.0, 0.0, 2.0, 3.0, 127.0])  # half-to-even: 0.5 -> 0, 1.5 -> 2
    out.backward(torch.ones(6))
    _close(x.grad, [0.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    # -128 + 0.25 - 0.5 + 0.5 + 0.25 + 127 = -0.5, over sqrt(6 * 127)
    _close(a.grad, -0.5 / math.sqrt(6 * 127))


# --- initialisation ---


def test_init_rules_of_elastic_binarisers():
    assert gsb.init_signed_scale(T([-1.0, 3.0])).item() == 4.0  # 2 mean|x|
    assert gsb.init_unsigned_scale(T([1.0, 3.0])).item() == 8.0  # 4 mean|x|
    _close(gsb.init_lsq_scale(T([-1.0, 3.0]), bits=8), 4.0 / math.sqrt(127))


def test_first_forward_initialises_signed_binarizer_once():
    q = SignedBinarizer()
    _close(q(T([-1.0, 3.0])), [-4.0, 4.0])
    _close(q(T([-10.0, 30.0])), [-4.0, 4.0])  # not re-initialised
    assert bool(q.initialized)


def test_attention_init_and_residual_first_call():
    q = GSBAttnQuantizer(GSBCfg())
    out1 = q(A6.clone())
    # stored: 4 mean|A| = 4 * 3.7 / 6; 4 * mean over T1 minus T2 = 4 * 0.75; 4 * 0.975
    _close(q.alpha.detach(), [4 * 3.7 / 6, 3.0, 3.9], tol=1e-5)
    # first call uses residuals [a1, a2 - a1, a3 - a2]; A / a1 < 0.5 -> no base plane
    _close(out1.flatten(), [0, 0, 0, 3.0 - 4 * 3.7 / 6, 3.9 - 4 * 3.7 / 6, 3.9 - 4 * 3.7 / 6],
           tol=1e-5)
    # later calls use the stored values
    _close(q(A6.clone()).flatten(), [0, 0, 0, 3.0, 6.9, 6.9], tol=1e-5)


def test_value_init_and_residual_first_call():
    q = GSBValueQuantizer(GSBCfg())
    out1 = q(V7.clone())
    # 2 mean of non-zero |v| outside T1: (0.5 + 0.3 + 1) / 3; 2 * 1.6; 2 * (2 + 2) / 2
    _close(q.alpha.detach(), [1.2, 3.2, 4.0], tol=1e-5)
    # first call: residual scales [1.2, 2.0, 0.8]
    _close(out1, [-4.0, -1.2, 0.0, 1.2, 1.2, 3.2, 4.0], tol=1e-5)
    _close(q(V7.clone()), [-8.4, -1.2, 0.0, 1.2, 1.2, 4.4, 8.4], tol=1e-5)


def test_residual_scales_keeps_parameter_gradient():
    q = GSBAttnQuantizer(GSBCfg())
    q(A6.clone()).sum().backward()
    assert q.alpha.grad is not None and q.alpha.grad.shape == (3,)


def test_codes_recombine_to_forward_values():
    gen = torch.Generator().manual_seed(2)
    qa, qv = GSBAttnQuantizer(GSBCfg()), GSBValueQuantizer(GSBCfg())
    a = torch.rand(1, 2, 4, 4, generator=gen)
    v = torch.randn(1, 2, 4, 8, generator=gen)
    qa(a), qv(v)  # initialise
    planes, al = qa.codes(a)
    assert planes.shape == (3, 1, 2, 4, 4)
    recomb = sum(al[k] * planes[k].float() for k in range(3))
    assert torch.equal(recomb, qa(a))
    sign, masks, al = qv.codes(v)
    recomb = sign.float() * (al[0] + al[1] * masks[0].float() + al[2] * masks[1].float())
    torch.testing.assert_close(recomb, qv(v), atol=0, rtol=1e-6)


@pytest.mark.parametrize("bad", [(0.9, 0.7), (0.0,), (1.5,), (0.7, 0.7)])
def test_gsb_cfg_rejects_bad_thresholds(bad):
    with pytest.raises(ValueError, match=r"^thresholds must be"):
        GSBCfg(thresholds=bad)


def test_gsb_cfg_groups_and_json_round_trip():
    cfg = GSBCfg(per_image=True)
    assert cfg.groups == 3 and cfg.scheme == "gsb" and GSBCfg(thresholds=()).groups == 1
    data = cfg.to_dict()
    data["thresholds"] = list(data["thresholds"])  # as JSON gives it back
    assert GSBCfg.from_dict(data) == cfg


def test_residual_init_option_stores_residual_scales():
    q = GSBValueQuantizer(GSBCfg(residual_init=True))
    out1 = q(V7.clone())
    _close(q.alpha.detach(), [1.2, 2.0, 0.8], tol=1e-5)  # [a1, a2 - a1, a3 - a2]
    _close(out1, [-4.0, -1.2, 0.0, 1.2, 1.2, 3.2, 4.0], tol=1e-5)
    _close(q(V7.clone()), out1, tol=0)


def test_lsq_per_channel_scale_gradient():
    # row 0: alpha 1, u = [0.4, 1.6, -300]; row 1: alpha 2, u = [0.5, 1.5, 250]
    xs = T([[0.4, 1.6, -300.0], [1.0, 3.0, 500.0]])
    x, (a,), out = _run(gsb.lsq_quantize, xs, T([[1.0], [2.0]]))
    _close(out, [[0.0, 2.0, -128.0], [0.0, 4.0, 254.0]])
    out.backward(torch.ones(2, 3))
    _close(x.grad, [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    # row 0: -0.4 + 0.4 - 128; row 1: -0.5 + 0.5 + 127; over sqrt(numel * Qp)
    _close(a.grad, [[-128 / math.sqrt(6 * 127)], [127 / math.sqrt(6 * 127)]], tol=1e-5)
