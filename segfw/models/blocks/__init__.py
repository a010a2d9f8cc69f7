"""Plain building blocks shared by backbones, necks and heads (no registry, no config)."""
