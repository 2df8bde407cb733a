"""Software-defined wM-Bus receiver: synthesiser, channel selection, burst detection, FSK demodulation
and T1/C1/S1 framing, as pure numpy functions. Sources in collector.sources wrap it."""
