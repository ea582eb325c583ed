"""GAN stability study: the sweep, the batched engine and the figures (research code, not the plugin)."""
