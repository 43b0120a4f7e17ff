"""Analytic memory, bandwidth and cycle model of compressed ViTs (numpy only; no torch,
amaranth or cocotb).

``analyze(model_cfg("deit_small_patch16_224"), scheme_preset("gsb"), AnalyticAccelCfg())`` gives
the per-layer report; :func:`evaluate` the totals, fast enough for sweeps.
"""

from sim.analytic.model import KEYS, analyze, evaluate
from sim.analytic.schemes import SCHEMES, scheme_preset
from sim.analytic.workload import MODELS, model_cfg, vit_ops

__all__ = ["KEYS", "MODELS", "SCHEMES", "analyze", "evaluate", "model_cfg", "scheme_preset",
           "vit_ops"]
