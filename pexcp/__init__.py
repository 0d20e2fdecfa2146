"""pexcp: schedule neural networks into microcontroller SRAM with partial execution and CP-SAT."""

__version__ = "0.1.0"
