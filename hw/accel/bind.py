"""How the accelerator's gathered operands and constants fill each unit's input payload.

Every unit slot of :data:`golden.accel_program.UNIT_KINDS` names, per field of its
``i_stream`` payload, where the field comes from: operand vector ``0..2`` (its low bits),
constant ``k0..k7`` (its low bits) or the beat's ``last`` flag; and which field of its
``o_stream`` payload holds the output lanes. The widths come from the unit's own layouts,
so the table never restates a unit's geometry.
"""

from __future__ import annotations

from amaranth.lib import data

__all__ = ["BIND", "OUT_FIELD", "field_widths", "out_geometry"]

_BINARY = {"a": 0, "w": 1, "last": "last"}
#: payload field -> 0..2 (operand), "k<i>" (constant) or "last"; None: the whole payload.
BIND = {
    "binary_xnor": _BINARY,
    "binary_and": _BINARY,
    "mac": {"a": 0, "w": 1, "w_bits": "k0", "a_bits": "k1", "w_signed": "k2",
            "a_signed": "k3", "last": "last"},
    "requant": {"acc": 0, "mult": 1, "bias": 2, "shift": "k0", "bits": "k1", "signed": "k2"},
    "residual": {"a": 0, "b": 1},
    "threshold": {"x": 0, "theta": 1, "flip": 2},
    "layernorm": {None: 0},
    "softmax": {"x": 0, "x0": "k0", "b": "k1", "c": "k2", "n": "k3", "floor_q": "k4",
                "out_bits": "k5", "last": "last"},
    "gelu": {"x": 0, "b": "k0", "c": "k1", "one": "k2", "clip": "k3"},
    "gsb_encoder": {"x": 0, "theta": "k0", "two_tailed": "k1", "last": "last"},
    "gsb_av": {"bits": 0, "w": 1, "last": "last"},
}
#: The ``o_stream`` payload field holding the output lanes (None: the whole payload).
OUT_FIELD = {"softmax": "y", "gsb_encoder": "planes"}


def field_widths(layout) -> dict:
    """``{field: (offset, width)}`` of a payload layout (``None`` for a non-struct one)."""
    if isinstance(layout, data.StructLayout):
        return {name: (f.offset, f.width) for name, f in layout}
    return {None: (0, layout.size)}


def out_geometry(slot: str, layout) -> tuple[int, int, int]:
    """``(offset, lanes, lane_bits)`` of the output lanes in an ``o_stream`` layout."""
    name = OUT_FIELD.get(slot)
    if name is None:
        offset, lanes_layout = 0, layout
    else:
        fld = layout[name]
        offset, lanes_layout = fld.offset, fld.shape
    if isinstance(lanes_layout, data.ArrayLayout):
        elem = data.Layout.cast(lanes_layout.elem_shape).size \
            if isinstance(lanes_layout.elem_shape, data.Layout) else \
            lanes_layout.elem_shape.width
        return offset, lanes_layout.length, elem
    width = lanes_layout.width if hasattr(lanes_layout, "width") else lanes_layout.size
    return offset, 1, width
