"""The hooks a serkit plugin can implement, one per component kind.

Each hook receives a ``register`` callback; call it once per component class::

    from serkit import hookimpl

    @hookimpl
    def register_augmenters(register):
        register(Clip)
"""

import pluggy

hookspec = pluggy.HookspecMarker("serkit")
hookimpl = pluggy.HookimplMarker("serkit")


@hookspec
def register_preprocessors(register):
    """Register waveform preprocessors (subclasses of ``serkit.Preprocessor``), run per file in recipe order."""


@hookspec
def register_augmenters(register):
    """Register augmenters (subclasses of ``serkit.Augmenter``), applied to training utterances after the split."""


@hookspec
def register_feature_extractors(register):
    """Register feature extractors (subclasses of ``serkit.FeatureExtractor``) turning a waveform into an array."""


@hookspec
def register_models(register):
    """Register models (subclasses of ``serkit.Model``) that build a torch module from input shape and class count."""


@hookspec
def register_datasets(register):
    """Register datasets (subclasses of ``serkit.Dataset``) that find labelled utterances under a root folder."""


@hookspec
def register_protocols(register):
    """Register evaluation protocols (subclasses of ``serkit.Protocol``) that split utterances into folds."""


@hookspec
def register_label_maps(register):
    """Register label maps (``serkit.LabelMap``, or ``LabelMap.from_toml(path)``) that put corpora's labels on one
    shared set; a recipe names one in ``[labels] map``."""


@hookspec
def register_commands(cli):
    """Add commands to ``serkit``: ``cli`` is a click group; decorate functions with ``@cli.command()`` (or call
    ``cli.add_command``). A command's ``SerkitError`` is shown as one line like serkit's own; a hook that fails,
    or a command named like one of serkit's, is listed by ``serkit plugins`` and never stops serkit's commands."""
