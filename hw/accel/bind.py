"""How the accelerator's gathered operands and constants fill each unit's input payload.

Every unit slot of :data:`golden.accel_program.UNIT_KINDS` names, per field of its
``i_stream`` payload, where the field comes from: operand vector ``0..2`` (its low bits),
constant ``k0..k7`` (its low bits) or the beat's ``last`` flag; and which field of its
``o_stream`` payload holds the output lanes. Both are read from the unit's registry entry
(its payload declaration); the widths come from the unit's own layouts, so nothing here
restates a unit's geometry.
"""

from __future__ import annotations

from amaranth.lib import data

from golden.accel_program import UNIT_KINDS
from golden.units import unit

__all__ = ["BIND", "OUT_FIELD", "field_widths", "out_geometry"]

#: payload field -> 0..2 (operand), "k<i>" (constant) or "last"; None: the whole payload.
#: From each slot's unit payload declaration (:attr:`golden.unit_spec.PayloadField.bind`).
BIND = {slot: unit(kind).payload.bind() for slot, kind in UNIT_KINDS.items()}
#: The ``o_stream`` payload field holding the output lanes (None: the whole payload).
OUT_FIELD = {slot: unit(kind).out_field for slot, kind in UNIT_KINDS.items()
             if unit(kind).out_field is not None}


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
