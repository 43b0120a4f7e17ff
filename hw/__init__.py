"""Amaranth datapaths of the vitsim accelerator: one ``wiring.Component`` per file.

Each unit takes its geometry from a :mod:`golden.spec` config, exposes ``latency`` and a
cycle model read from that config, and names the :mod:`golden.kernels` function it must
equal bit for bit.
"""
