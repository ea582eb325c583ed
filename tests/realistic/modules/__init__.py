"""Small LightningModules in the styles people write, each a re-statement of a published original."""
