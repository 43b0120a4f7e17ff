"""cocotb benches. They run inside the simulator (not under pytest); see :mod:`sim.runner`."""
