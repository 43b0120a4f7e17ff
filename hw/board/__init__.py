"""A board top around the accelerator: UART host link, block-RAM external memory, ULX3S pins."""
