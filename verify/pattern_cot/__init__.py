"""Checks of Li, Lu, Chen, Cui, Wang (ICLR 2025): softmax CoT vs ICL on noisy multi-step pattern tasks."""
