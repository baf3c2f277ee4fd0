"""Data folder: `model.safetensors`, the committed trained weights of the built-in sentiment model."""
