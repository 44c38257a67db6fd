"""The paper's components, registered through the same hooks as any plugin."""
