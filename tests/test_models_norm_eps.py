"""LayerNorm eps: the GSB authors' 1e-12 in binary/GSB models, timm's 1e-6 in float ones."""

import copy

import numpy as np
import pytest
import torch

from golden.model_cfg import GSB_SCHEMES
from models import create_model, list_models
from models.intmode import to_integer
from models.vit import BINARY_NORM_EPS

SMALL = [n for n in list_models() if n.split("_")[0] in GSB_SCHEMES + ("lsq", "qvit")
         and "_deit_" not in n]


def _norms(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]


@pytest.mark.parametrize("name", SMALL)
def test_every_layernorm_has_the_scheme_eps(name):
    model = create_model(name)
    norms = _norms(model)
    assert len(norms) == 2 * model.vit_cfg.depth + 1  # norm1, norm2 per block, final norm
    want = BINARY_NORM_EPS if name.split("_")[0] in ("binary", "gsb") else 1e-6
    assert BINARY_NORM_EPS == 1e-12
    assert {m.eps for m in norms} == {want}


def _authors_layernorm(x, weight, bias, eps=1e-12):
    """The GSB authors' Q_OVitLayerNorm forward (TF style: eps inside the square root)."""
    u = x.mean(-1, keepdim=True)
    s = (x - u).pow(2).mean(-1, keepdim=True)
    return weight * ((x - u) / torch.sqrt(s + eps)) + bias


@pytest.mark.parametrize("name", ["binary_vit_digits", "gsb_vit_mnist"])
def test_binary_norms_match_the_authors_formula_on_a_low_variance_input(name):
    # std 1e-4 (variance 1e-8): eps 1e-6 would shrink the output about 10x
    torch.manual_seed(0)
    model = create_model(name).double()
    x = torch.randn(3, 5, model.vit_cfg.embed_dim, dtype=torch.float64) * 1e-4 + 0.3
    for norm in _norms(model):
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.1, 0.1)
            got = norm(x)
            ref = _authors_layernorm(x, norm.weight, norm.bias)
            timm_eps = _authors_layernorm(x, norm.weight, norm.bias, eps=1e-6)
        torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-9)
        assert (got - timm_eps).abs().max() > 0.1  # the test tells the two eps apart


def test_integer_export_does_not_depend_on_the_float_eps(torch_one_thread):
    """I-LayerNorm has no eps: one trained model exports the same network under either eps.

    (The scales a model learns or initialises in float do follow its eps; the export of
    given parameters does not, calibration ranges included, on this model.)
    """
    torch.manual_seed(0)
    model = create_model("gsb_vit_digits", depth=2)
    g = torch.Generator().manual_seed(1)
    calib = torch.randint(0, 17, (32, 1, 8, 8), generator=g).float() / 8 - 1
    with torch.no_grad():
        model(calib)  # initialise the scales
    other = copy.deepcopy(model)
    for norm in _norms(other):
        norm.eps = 1e-6
    a, b = to_integer(model, calib).net, to_integer(other, calib).net
    assert {m.eps for m in _norms(model)} == {BINARY_NORM_EPS}
    assert a.ops == b.ops and a.meta == b.meta
    assert a.params.keys() == b.params.keys()
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k
    assert any(op.kind == "layernorm" for op in a.ops)
