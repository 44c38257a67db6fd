"""Commands that plugins add (the ``register_commands`` hook), loaded when the command line first lists or looks up
a command: each plugin's hook is called on its own, into a group of its own, so that one that fails, or that
names a command serkit already has, is a problem ``serkit plugins`` lists and never a stop for serkit's commands."""

from __future__ import annotations

from typing import Any

import click

from serkit.cli.base import SerkitGroup


class ExtensibleGroup(SerkitGroup):
    """The root ``serkit`` group: its own commands, and those the plugins registered now add (looked up each time a
    command is listed or found, so a plugin registered or removed at run time is followed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The commands each plugin added, by plugin name.
        self.added: dict[str, list[str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.follow_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self.follow_plugins()
        return super().get_command(ctx, cmd_name)

    def follow_plugins(self) -> None:
        """Add the commands of plugins not yet seen; drop those of plugins no longer registered."""
        from serkit.core.registry import Problem, command_problems, get_plugin_manager, provider_of

        hooks = {hook.plugin_name: hook for hook in get_plugin_manager().hook.register_commands.get_hookimpls()}
        for gone in set(self.added) - set(hooks):
            for name in self.added.pop(gone):
                self.commands.pop(name, None)
            command_problems[:] = [p for p in command_problems if p.provider.plugin != gone]
        for plugin, hook in hooks.items():
            if plugin in self.added:
                continue
            self.added[plugin] = []
            staging = click.Group()
            try:
                hook.function(cli=staging)
            except Exception as exc:  # a broken plugin is reported, never fatal
                message = f"register_commands failed: {type(exc).__name__}: {exc}"
                command_problems.append(Problem(provider_of(plugin), message))
                continue
            for name, command in staging.commands.items():
                if name in self.commands:
                    message = f"command '{name}' is serkit's own (or another plugin's): not added"
                    command_problems.append(Problem(provider_of(plugin), message))
                else:
                    self.add_command(command, name)
                    self.added[plugin].append(name)
