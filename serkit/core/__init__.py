"""The frame every other part builds on: component kinds, base classes, parameters, hooks, registry, recipes."""
