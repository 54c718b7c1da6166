"""Textual command palette (ctrl+p): every key's command, plus tensors, views, streams and runs by name."""

from __future__ import annotations

from textual.command import DiscoveryHit, Hit, Hits, Provider


class InspectorCommands(Provider):
    """Commands of the main screen, found by fuzzy search."""

    def _commands(self):
        from inspector.tui.screens.main import MainScreen

        screen = self.screen
        if not isinstance(screen, MainScreen):
            return []
        return list(screen.palette_commands())

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
