"""The board's host side: the UART protocol driver, its transports, builds and runs."""
